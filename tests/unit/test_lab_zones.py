"""The zoned lab's inventory and node configuration (lab/zones.py), without podman."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from otorchestrator.lab import zones
from otorchestrator.lab.config import LabConfig
from otorchestrator.lab.inventory import load_lab_hosts
from otorchestrator.nodes.config import check_zones, load_nodes

ROOT = Path(__file__).resolve().parents[2]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGHE04SdS7l3q2Tc1Fuf7UyV6S6ce964+dw1bCJ6crMl"


def test_zoned_hosts_and_their_nodes() -> None:
    hosts = load_lab_hosts(ROOT / "inventories" / "lab")
    zoned = {h.name: z.node for h in hosts if (z := zones.zone_of(h))}
    # the gateway is zoned: its 1.1.0 fails verification, so a zoned run rolls back through a node
    assert zoned == {
        "nw-scada-a": "node-supervisory",
        "nw-scada-b": "node-supervisory",
        "nw-hmi-01": "node-cell-a",
        "nw-gw-01": "node-idmz",
    }
    assert [z.zone for z in zones.wanted(hosts)] == ["supervisory", "cell-a-control", "idmz"]
    cfg = LabConfig(root=ROOT, name="otlx")
    assert zones.network(cfg, zones.LAB_ZONES[2]) == "otlx-z-idmz"


def test_zone_inventory_and_nodes_file(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "inventories" / "lab", tmp_path / "inventories" / "lab")
    cfg = LabConfig(root=tmp_path, name="otlx", port_offset=1000)
    addresses = {"nw-gw-01": "10.89.9.1", "nw-hmi-01": "10.89.8.1"}
    keys = {"node-idmz": KEY, "node-cell-a": KEY}
    target = zones.write_inventory(cfg, addresses, keys)
    assert target == tmp_path / ".lab" / "zones"
    data = yaml.safe_load((target / "hosts.yml").read_text())
    hosts = data["all"]["hosts"]
    assert (hosts["nw-gw-01"]["ansible_host"], hosts["nw-gw-01"]["ansible_port"]) == ("10.89.9.1", 22)
    assert "ansible_host" not in hosts["nw-hist-01"]  # not zoned: reached directly on loopback
    assert (target / "group_vars" / "all" / "lab_connection.yml").is_file()
    nodes = load_nodes(target / "nodes.yml")
    assert [(n.name, n.port, n.zones) for n in nodes.nodes] == [
        ("node-cell-a", 23292, ("cell-a-control",)),
        ("node-idmz", 23293, ("idmz",)),
    ]
    assert nodes.key_path(nodes.nodes[0]) == (tmp_path / ".lab" / "ssh" / "id_ed25519").resolve()
    by_zone: dict[str, list[str]] = {}
    for h in load_lab_hosts(target):
        by_zone.setdefault(h.zone, []).append(h.name)
    assert check_zones(nodes, by_zone) == []
    # written again (a later `lab up --zones`): replaced, not merged
    zones.write_inventory(cfg, {"nw-gw-01": "10.89.9.7"}, {"node-idmz": KEY})
    again = yaml.safe_load((target / "hosts.yml").read_text())["all"]["hosts"]
    assert again["nw-gw-01"]["ansible_host"] == "10.89.9.7" and "ansible_host" not in again["nw-hmi-01"]
