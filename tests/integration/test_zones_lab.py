"""The zoned lab (`otorch lab up --zones`) and the nodes backend on it: zones reached only through their node.

The fixture starts the zoned lab of this instance (OTORCH_LAB_NAME): the supervisory, cell-a-control and idmz
hosts on internal zone networks, a node per zone, the inventory in .lab/zones."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otorchestrator.lab import LabConfig, lifecycle
from otorchestrator.lab import zones as zoning
from otorchestrator.lab.handle import LabHandle, lab_unavailable_reason

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ZONED = ("nw-scada-a", "nw-scada-b", "nw-hmi-01", "nw-gw-01")


@pytest.fixture(scope="module")
def zoned_lab() -> Iterator[LabHandle]:
    reason = lab_unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the lab tests, but the lab is unavailable: {reason}")
        pytest.skip(reason)
    cfg = LabConfig.from_env()
    lifecycle.up(cfg, progress=lambda m: print(f"[lab] {m}", file=sys.stderr), zones=True)
    handle = LabHandle.for_config(cfg)
    handle.inventory = zoning.zones_dir(cfg)
    handle.ensure_baseline()
    yield handle


def _bridge(net: str) -> str:
    out = subprocess.run(
        ["podman", "network", "inspect", net, "--format", "{{.NetworkInterface}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _connect_on(device: str, ip: str, port: int = 22, timeout: float = 3.0) -> str:
    """Try a TCP connection to ip:port bound to one bridge of this machine (SO_BINDTODEVICE: the packets
    can only go onto that bridge, the lab's own, never out of the machine); returns what happened."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    try:
        sock.connect((ip, port))
    except OSError as exc:
        return f"refused: {type(exc).__name__}"
    finally:
        sock.close()
    return "connected"


def test_the_controller_cannot_reach_a_zoned_host_but_its_node_can(zoned_lab: LabHandle) -> None:
    cfg = zoned_lab.cfg
    for host in ZONED:
        zone = next(z for z in zoning.LAB_ZONES if host in _zone_hosts(zoned_lab, z.zone))
        net = zoning.network(cfg, zone)
        container = cfg.container(host)
        # nothing published on loopback, and the host sits on its zone network only
        ports = subprocess.run(["podman", "port", container], capture_output=True, text=True, check=True)
        assert ports.stdout.strip() == "", f"{host} publishes {ports.stdout!r}"
        inspect = subprocess.run(
            ["podman", "inspect", container, "--format", "{{json .NetworkSettings.Networks}}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert list(json.loads(inspect.stdout)) == [net]
        ip = zoning.address(cfg, container, net)
        # the zone network is internal: the controller's side of its bridge has no address
        addrs = subprocess.run(
            ["ip", "-4", "-o", "addr", "show", "dev", _bridge(net)], capture_output=True, text=True
        )
        assert addrs.stdout.strip() == ""
        assert _connect_on(_bridge(net), ip).startswith("refused"), f"the controller reached {host} at {ip}"
        # ... while the zone's node opens the same address and port
        probe = f"(exec 3<>/dev/tcp/{ip}/22) && echo open"
        out = subprocess.run(
            ["podman", "exec", cfg.container(zone.node), "bash", "-c", probe], capture_output=True, text=True
        )
        assert out.stdout.strip() == "open", out.stderr
    # the plain lab's hosts are still reached directly
    assert _connect_loopback(zoned_lab.ports["nw-hist-01"])


def test_nodes_check_reports_versions_and_zone_hosts(zoned_lab: LabHandle) -> None:
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "otorch"),
            "nodes",
            "check",
            "-i",
            str(zoned_lab.inventory),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    by_node = {n["node"]: n for n in report["nodes"]}
    assert set(by_node) == {"node-supervisory", "node-cell-a", "node-idmz"}
    for node in by_node.values():
        assert node["reachable"] and node["pinned"], node
        assert node["versions"]["ansible-runner"] == report["pins"]["ansible-runner"]
        assert all(h["reachable"] for h in node["hosts"]), node
    assert [h["host"] for h in by_node["node-supervisory"]["hosts"]] == ["nw-scada-a", "nw-scada-b"]


def _zone_hosts(lab: LabHandle, zone: str) -> list[str]:
    return [h.name for h in lifecycle.select_hosts(lab.cfg) if h.zone == zone]


def _connect_loopback(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3):
            return True
    except OSError:
        return False
