"""The execution nodes of a zoned lab: one container per zone (lab/zones.py), provisioned like a host (the
lab key for root), then bootstrapped the way a site's node is: `otorchestrator.nodes.bootstrap` over SSH
from the controller's wheelhouse (ansible-core and ansible-runner, no index)."""

from __future__ import annotations

from pathlib import Path

from otorchestrator.lab import net, podman, provision
from otorchestrator.lab import zones as zoning
from otorchestrator.lab.config import OWNER_LABEL, LabConfig, Progress
from otorchestrator.lab.inventory import LabHost, load_lab_hosts


class ZoneLabError(RuntimeError):
    pass


def node_host(zone: zoning.LabZone) -> LabHost:
    """A node as the lab's provisioning sees it: a host without products or knobs."""
    return LabHost(
        name=zone.node,
        base_port=zone.base_port,
        role="execution_node",
        purdue_level=None,
        criticality="-",
        zone=zone.zone,
    )


def _wait_from_node(cfg: LabConfig, node: str, ip: str, tries: int = 100) -> bool:
    """True once the node can open the zone host's SSH port (bash /dev/tcp inside the node)."""
    probe = f"(exec 3<>/dev/tcp/{ip}/22) 2>/dev/null && exit 0"
    script = f"for i in $(seq {tries}); do {probe}; sleep 0.2; done; exit 1"
    proc = podman.exec_in(cfg.container(node), ["bash", "-c", script], check=False, timeout=tries * 0.5 + 10)
    return proc.returncode == 0


def up_nodes(cfg: LabConfig, image: str, progress: Progress, wait_timeout: float = 90) -> Path:
    """Start (or keep) a node per zone that holds hosts, write .lab/zones, bootstrap the nodes."""
    hosts = load_lab_hosts(cfg.inventory_dir)
    zoned = [h for h in hosts if zoning.zone_of(h) is not None]
    zones = zoning.wanted(zoned)
    alive = {c.name: c for c in zoning.node_containers(cfg) if c.running}
    owner = cfg.owner()
    new: list[LabHost] = []
    for zone in zones:
        host = node_host(zone)
        name = cfg.container(zone.node)
        running = alive.get(name)
        if running and running.labels.get(OWNER_LABEL) == owner and provision.is_provisioned(cfg, host):
            continue
        if running:
            podman.remove_containers([name])
        provision.create(
            cfg,
            host,
            image,
            networks=(cfg.network, zoning.network(cfg, zone)),
            labels={zoning.NODE_LABEL: zone.zone},
        )
        new.append(host)
    for host in new:
        provision.provision(cfg, host)
    if new:
        progress(f"started {len(new)} execution node(s): {', '.join(h.name for h in new)}")
    missing = net.wait_for_ssh([cfg.port(z.base_port) for z in zones], timeout=wait_timeout)
    if missing:
        raise ZoneLabError(f"node sshd not answering on 127.0.0.1 port(s) {missing}")
    running_hosts = {c.name for c in podman.list_containers(name_prefix=f"{cfg.name}-") if c.running}
    addresses: dict[str, str] = {}
    for host in zoned:
        home = zoning.zone_of(host)
        assert home is not None
        if cfg.container(host.name) not in running_hosts:
            continue
        ip = zoning.address(cfg, cfg.container(host.name), zoning.network(cfg, home))
        if not _wait_from_node(cfg, home.node, ip):
            raise ZoneLabError(f"{host.name}: sshd at {ip}:22 not answering from {home.node}")
        addresses[host.name] = ip
    keys = {z.node: zoning.host_key(cfg, cfg.container(z.node)) for z in zones}
    target = zoning.write_inventory(cfg, addresses, keys)

    from otorchestrator.nodes import bootstrap
    from otorchestrator.nodes.config import load_nodes

    site = load_nodes(target / "nodes.yml")
    wheelhouse = bootstrap.ensure_wheelhouse(cfg.lab_dir / "wheelhouse", progress)
    failed = [r for r in bootstrap.bootstrap_all(site, wheelhouse, progress) if not r.ok]
    if failed:
        raise ZoneLabError("node bootstrap failed: " + "; ".join(f"{r.node}: {r.detail}" for r in failed))
    return target
