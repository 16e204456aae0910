"""`otorch lab up | down | reset | status`: the lab's lifecycle on top of podman.

Invariants: everything the lab creates carries the label ``otorchestrator.lab=<lab name>`` (and container
names ``<lab name>-<host>``), so a lab instance only ever touches its own containers and network; ``up`` is
idempotent and repairs leftovers of a killed session; ``down`` leaves nothing behind."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from otorchestrator.lab import build, net, podman, provision, scale
from otorchestrator.lab import zones as zoning
from otorchestrator.lab.config import IMAGE_LABEL, LABEL, OWNER_LABEL, LabConfig, Progress
from otorchestrator.lab.inventory import LabHost, load_lab_hosts


class LabError(RuntimeError):
    pass


@dataclass(frozen=True)
class HostStatus:
    host: str
    container: str
    state: str  # running, exited, ..., or "absent"
    ssh_port: int
    reachable: bool
    role: str
    purdue_level: float | None
    criticality: str


def _quiet(_: str) -> None:
    pass


def select_hosts(
    cfg: LabConfig, count: int | None = None, names: Sequence[str] | None = None
) -> list[LabHost]:
    """The first ``count`` inventory hosts, or the hosts called ``names``, or all."""
    hosts = load_lab_hosts(cfg.inventory_dir)
    if names:
        known = {h.name for h in hosts}
        unknown = sorted(set(names) - known)
        if unknown:
            raise LabError(f"not lab hosts: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return [h for h in hosts if h.name in set(names)]
    if count is not None:
        if count < 1 or count > len(hosts):
            raise LabError(f"--hosts must be between 1 and {len(hosts)}")
        hosts = hosts[:count]
    return hosts


def _own_containers(cfg: LabConfig) -> list[podman.Container]:
    by_label = podman.list_containers(label=f"{LABEL}={cfg.name}")
    by_name = podman.list_containers(name_prefix=f"{cfg.name}-")
    seen: dict[str, podman.Container] = {c.name: c for c in by_label}
    for c in by_name:  # a container named like ours but without our label is ours too (older build)
        if (
            c.name not in seen
            and c.name.startswith(f"{cfg.name}-")
            and c.labels.get(LABEL, cfg.name) == cfg.name
        ):
            seen[c.name] = c
    return list(seen.values())


def _clean_leftovers(cfg: LabConfig, progress: Progress) -> dict[str, podman.Container]:
    """Remove half-dead containers (anything not running) of this lab; drop a network without live hosts."""
    containers = _own_containers(cfg)
    dead = [c.name for c in containers if not c.running]
    if dead:
        progress(f"removing {len(dead)} stale container(s) of lab '{cfg.name}': {', '.join(sorted(dead))}")
        podman.remove_containers(dead)
    alive = {c.name: c for c in containers if c.running}
    if not alive and podman.network_exists(cfg.network):
        progress(f"recreating network {cfg.network} (no live hosts on it)")
        podman.remove_network(cfg.network)
    if not podman.network_exists(cfg.network):
        podman.create_network(cfg.network, {LABEL: cfg.name})
    return alive


def _provision_all(cfg: LabConfig, hosts: list[LabHost], progress: Progress) -> None:
    def one(host: LabHost) -> tuple[str, float, Exception | None]:
        start = time.monotonic()
        try:
            provision.provision(cfg, host)
        except podman.PodmanError as exc:
            return host.name, time.monotonic() - start, exc
        return host.name, time.monotonic() - start, None

    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for name, secs, exc in pool.map(one, hosts):
            if exc is None:
                progress(f"  {name}: baseline installed ({secs:.1f} s)")
            else:
                errors.append(f"{name}: {exc}")
    if errors:
        raise LabError("provisioning failed:\n" + "\n".join(errors))


def up(
    cfg: LabConfig,
    count: int | None = None,
    progress: Progress = _quiet,
    wait_timeout: float = 90,
    names: Sequence[str] | None = None,
    zones: bool | None = False,
) -> None:
    """Start the lab (all inventory hosts, the first ``count`` or ``names``); safe to run again.

    A ``count`` above the lab inventory's hosts starts a scale lab: the inventory with generated hosts is
    written to ``cfg.scale_dir`` first (see lab/scale.py) and its hosts are started.

    ``zones``: True starts the zoned lab (lab/zones.py: zone networks, a node per zone, the zoned hosts
    behind it, inventory in .lab/zones); False the plain lab (zoned hosts are moved back onto the lab
    network, nodes removed); None keeps the lab's current mode (what `reset` uses)."""
    t0 = time.monotonic()
    if count is not None and count > len(load_lab_hosts(cfg.base_inventory_dir)) and not names:
        try:
            target = scale.write_scale_inventory(cfg.base_inventory_dir, cfg.scale_dir, count)
        except scale.ScaleError as exc:
            raise LabError(str(exc)) from exc
        cfg = replace(cfg, inventory=target)
        progress(f"scale lab: {count} hosts, inventory written to {target} (OTORCH_LAB_INVENTORY={target})")
    hosts = select_hosts(cfg, count, names)
    image = build.build_all(cfg, progress)
    alive = _clean_leftovers(cfg, progress)
    owner = cfg.owner()
    if zones is None:
        zones = bool(zoning.node_containers(cfg))
    zone_of = {h.name: (zoning.zone_of(h) if zones else None) for h in hosts}
    zone_net = {n: (zoning.network(cfg, z) if z else "") for n, z in zone_of.items()}
    if zones:
        zoning.ensure_networks(cfg, zoning.wanted(hosts))

    keep: list[LabHost] = []
    recreate: list[str] = []
    for host in hosts:
        name = cfg.container(host.name)
        if name not in alive:
            continue
        if alive[name].labels.get(OWNER_LABEL) != owner:
            progress(f"  {host.name}: left by another checkout or an older lab key: recreating")
            recreate.append(name)
        elif alive[name].labels.get(zoning.ZONE_LABEL, "") != zone_net[host.name]:
            where = zone_net[host.name] or cfg.network
            progress(f"  {host.name}: moving to network {where}: recreating")
            recreate.append(name)
        elif provision.is_provisioned(cfg, host):
            keep.append(host)
            if alive[name].labels.get(IMAGE_LABEL, image) != image:
                progress(
                    f"  {host.name}: running an older image (run `otorch lab reset` for the new baseline)"
                )
        else:
            recreate.append(name)  # dead inside or killed while provisioning: start over
    if recreate:
        listed = ", ".join(recreate)
        progress(f"recreating {len(recreate)} unresponsive or half-provisioned host(s): {listed}")
        podman.remove_containers(recreate)
    kept = {h.name for h in keep}
    new = [h for h in hosts if h.name not in kept]
    if keep:
        progress(f"{len(keep)} host(s) already running: {', '.join(sorted(kept))}")
    if new:
        progress(f"starting {len(new)} host(s) from {image}")
        for host in new:
            znet = zone_net[host.name]
            labels = {zoning.ZONE_LABEL: znet} if znet else None
            provision.create(
                cfg, host, image, networks=(znet,) if znet else (), publish=not znet, labels=labels
            )
        progress("installing the baseline (products 1.0.0 from the signed repository, knobs)")
        _provision_all(cfg, new, progress)

    direct = [cfg.port(h.base_port) for h in hosts if not zone_net[h.name]]
    missing = net.wait_for_ssh(direct, timeout=wait_timeout)
    if missing:
        raise LabError(f"sshd not answering on 127.0.0.1 port(s) {missing} after {wait_timeout:.0f} s")
    if zones:
        from otorchestrator.lab import zonenodes  # the nodes and their bootstrap: only for a zoned lab

        target = zonenodes.up_nodes(cfg, image, progress, wait_timeout)
        progress(f"zoned lab: inventory and nodes.yml in {target} (OTORCH_BACKEND=nodes -i {target})")
    elif not names:
        _remove_zones(cfg, progress)
    progress(f"lab '{cfg.name}' up: {len(hosts)} host(s) answering SSH ({time.monotonic() - t0:.1f} s)")


def _remove_zones(cfg: LabConfig, progress: Progress) -> None:
    """Back to the plain lab: no nodes, no zone networks."""
    nodes = [c.name for c in zoning.node_containers(cfg)]
    if nodes:
        progress(f"removing {len(nodes)} execution node(s) of the zoned lab: {', '.join(sorted(nodes))}")
        podman.remove_containers(nodes)
    zoning.remove_networks(cfg)


def down(cfg: LabConfig, progress: Progress = _quiet) -> None:
    """Remove every container and the network of this lab instance."""
    t0 = time.monotonic()
    names = sorted(c.name for c in _own_containers(cfg))
    if names:
        progress(f"removing {len(names)} container(s) of lab '{cfg.name}'")
        podman.remove_containers(names)
    if podman.network_exists(cfg.network):
        progress(f"removing network {cfg.network}")
        podman.remove_network(cfg.network)
    for name in zoning.remove_networks(cfg):
        progress(f"removed network {name}")
    left = _own_containers(cfg)
    if left:
        raise LabError(f"containers still present after removal: {[c.name for c in left]}")
    progress(f"lab '{cfg.name}' down ({time.monotonic() - t0:.1f} s)")


def reset(
    cfg: LabConfig,
    count: int | None = None,
    progress: Progress = _quiet,
    names: Sequence[str] | None = None,
) -> None:
    """Recreate hosts from the image: the clean baseline (products at 1.0.0, knobs applied).
    Hosts that are not reset are kept as they are."""
    hosts = select_hosts(cfg, count, names)
    containers = [cfg.container(h.name) for h in hosts]
    progress(f"removing {len(containers)} host(s) for a clean baseline")
    podman.remove_containers(containers)
    up(cfg, progress=progress, names=[h.name for h in hosts], zones=None)


def status(cfg: LabConfig) -> list[HostStatus]:
    """One row per inventory host: container state, ssh port, SSH reachable on loopback, OT role."""
    containers = {c.name: c for c in _own_containers(cfg)}
    rows: list[HostStatus] = []
    for host in load_lab_hosts(cfg.inventory_dir):
        cname = cfg.container(host.name)
        container = containers.get(cname)
        port = cfg.port(host.base_port)
        state = container.state if container else "absent"
        reachable = state == "running" and net.ssh_banner(port, timeout=1.0) is not None
        rows.append(
            HostStatus(
                host.name, cname, state, port, reachable, host.role, host.purdue_level, host.criticality
            )
        )
    return rows
