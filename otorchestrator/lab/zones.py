"""A zoned lab (`otorch lab up --zones`): some zones of the plant behind their own network, reached only
through that zone's execution node (docs/lab.md, "Zones and execution nodes").

* every zone of `LAB_ZONES` gets a podman network ``<lab>-z-<zone>``, created ``--internal`` (no gateway,
  no address on the controller's side of the bridge) and ``--disable-dns``;
* the hosts of those zones sit on their zone network only: no port published on 127.0.0.1, so the controller
  has no path to them;
* each zone has a node container ``<lab>-node-<zone>`` (the same lab image) on the lab network, with its SSH
  published on 127.0.0.1, and on its zone network; `otorch nodes bootstrap` installs ansible-core and
  ansible-runner on it from the wheelhouse the controller carries (no index, no network);
* the inventory of the zoned lab is written to ``.lab/zones/``: the lab's hosts, the zoned ones with their
  zone-network address (``ansible_host``, port 22), and ``nodes.yml``, the site's node configuration
  (nodes, zones served, the pinned host key of each node).

The hosts of the other zones stay as in the plain lab (published on loopback, reached directly).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from otorchestrator.lab import podman
from otorchestrator.lab.config import LABEL, LabConfig
from otorchestrator.lab.inventory import LabHost

ZONE_LABEL = "otorchestrator.lab.zone"  # on host containers: the zone network it sits on ("" = lab network)
NODE_LABEL = "otorchestrator.lab.node"  # on node containers: the zone it serves
NODE_FORKS = 5


@dataclass(frozen=True)
class LabZone:
    zone: str  # the inventory's ot_zone
    node: str  # the node's name in nodes.yml; its container is <lab>-<node>
    base_port: int  # the node's SSH port on 127.0.0.1, before OTORCH_LAB_PORT_OFFSET


# Which lab zones sit behind a node: the gateway (idmz: its 1.1.0 fails verification, so a zoned run also
# rolls back), the cell's HMI and the redundant SCADA pair. The others stay direct.
LAB_ZONES: tuple[LabZone, ...] = (
    LabZone("supervisory", "node-supervisory", 22291),
    LabZone("cell-a-control", "node-cell-a", 22292),
    LabZone("idmz", "node-idmz", 22293),
)
_BY_ZONE = {z.zone: z for z in LAB_ZONES}


def zone_of(host: LabHost) -> LabZone | None:
    return _BY_ZONE.get(host.zone)


def network(cfg: LabConfig, zone: LabZone) -> str:
    return f"{cfg.name}-z-{zone.zone}"


def zones_dir(cfg: LabConfig) -> Path:
    return cfg.lab_dir / "zones"


def wanted(hosts: Iterable[LabHost]) -> list[LabZone]:
    """The zones (in LAB_ZONES order) that hold at least one of these hosts."""
    present = {h.zone for h in hosts}
    return [z for z in LAB_ZONES if z.zone in present]


def ensure_networks(cfg: LabConfig, zones: Iterable[LabZone]) -> None:
    for zone in zones:
        name = network(cfg, zone)
        if not podman.network_exists(name):
            podman.run(
                ["network", "create", "--internal", "--disable-dns", "--label", f"{LABEL}={cfg.name}", name]
            )


def remove_networks(cfg: LabConfig) -> list[str]:
    """Remove this lab's zone networks (label otorchestrator.lab=<lab>, name <lab>-z-*)."""
    out = podman.run(["network", "ls", "--filter", f"label={LABEL}={cfg.name}", "--format", "{{.Name}}"])
    names = [n for n in out.stdout.split() if n.startswith(f"{cfg.name}-z-")]
    for name in names:
        podman.remove_network(name)
    return names


def node_containers(cfg: LabConfig) -> list[podman.Container]:
    return [c for c in podman.list_containers(label=f"{LABEL}={cfg.name}") if NODE_LABEL in c.labels]


def address(cfg: LabConfig, container: str, net: str) -> str:
    """The IPv4 address of a container on one network."""
    out = podman.run(["inspect", container, "--format", "{{json .NetworkSettings.Networks}}"]).stdout
    networks: dict[str, Any] = json.loads(out or "{}")
    ip = str((networks.get(net) or {}).get("IPAddress") or "")
    if not ip:
        raise podman.PodmanError(f"{container} has no address on {net}")
    return ip


def host_key(cfg: LabConfig, container: str) -> str:
    """The node's ed25519 public host key (``ssh-ed25519 AAAA...``): what nodes.yml pins."""
    text = podman.exec_in(container, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"], timeout=30).stdout
    kind, key = text.split()[:2]
    return f"{kind} {key}"


def write_inventory(
    cfg: LabConfig,
    addresses: dict[str, str],
    nodes: dict[str, str],
) -> Path:
    """``.lab/zones``: the lab inventory with the zoned hosts at their zone address, and nodes.yml.

    `addresses`: zoned host -> its address on its zone network; `nodes`: node name -> pinned host key."""
    base = yaml.safe_load((cfg.base_inventory_dir / "hosts.yml").read_text(encoding="utf-8")) or {}
    hosts = (base.get("all") or {}).get("hosts") or {}
    for name, ip in addresses.items():
        hosts[name]["ansible_host"] = ip
        hosts[name]["ansible_port"] = 22
    target = zones_dir(cfg)
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copytree(cfg.base_inventory_dir / "group_vars", staging / "group_vars")
    header = (
        "# GENERATED by `otorch lab up --zones` from inventories/lab/hosts.yml: the hosts of the zones\n"
        "# in nodes.yml sit on their zone network (ansible_host: the zone address, port 22) and are\n"
        "# reached only through their zone's execution node (OTORCH_BACKEND=nodes). Do not edit.\n"
    )
    (staging / "hosts.yml").write_text(header + yaml.safe_dump(base, sort_keys=False, width=120))
    (staging / "nodes.yml").write_text(_nodes_yaml(cfg, nodes))
    for extra in ("catalog.yml", "policy.yml", "exemptions.yml", "kev.json"):
        if (cfg.base_inventory_dir / extra).is_file():
            shutil.copy2(cfg.base_inventory_dir / extra, staging / extra)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _nodes_yaml(cfg: LabConfig, keys: dict[str, str]) -> str:
    nodes = [
        {
            "name": z.node,
            "host": "127.0.0.1",
            "port": cfg.port(z.base_port),
            "user": "root",
            "key": "../ssh/id_ed25519",
            "host_key": keys[z.node],
            "zones": [z.zone],
            "forks": NODE_FORKS,
        }
        for z in LAB_ZONES
        if z.node in keys
    ]
    body = {
        "schema_version": 1,
        "require_nodes": [z.zone for z in LAB_ZONES if z.node in keys],
        "nodes": nodes,
    }
    header = (
        "# GENERATED by `otorch lab up --zones`: the lab's execution nodes (docs/nodes.md). LAB ONLY: every\n"
        "# lab container shares the image's host keys, so all nodes pin the same key.\n"
    )
    return header + yaml.safe_dump(body, sort_keys=False, width=200)
