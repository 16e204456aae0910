"""Direct vs through zone execution nodes: the same phase (verify, read-only) on lab hosts, run by the local
backend (the controller's own SSH to each host) and by the nodes backend (each zone's hosts as an
ansible-runner transmit stream to its node over SSH, events processed on the controller), alternating.

Two shapes of job, each on both sides: "per-host" (one job per host, 4 at once) and "one job" (the whole
request at once; the nodes backend splits it into one job per zone). The engine's hosts flow sends between
the two (execution/hostchain.py: a host alone, or a micro-batch of the hosts of one phase, and for the
nodes backend of one zone, that are ready at the same moment).

Prints wall time and controller CPU (this process and its children: ansible-playbook, ssh, the transmit and
process side) per host. The nodes' own CPU runs in their containers on this same machine and is not counted
as the controller's: that is the point of a node.

Needs the zoned lab: `otorch lab up --zones`. The zoned hosts (4, behind 3 nodes) are not reachable
directly, so "direct" runs the 4 unzoned lab hosts of the same kinds; both sides run 4 hosts.

    python bench/zones.py --rounds 4
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import mkdtemp

from otorchestrator.execution.ansible import AnsibleRunnerBackend
from otorchestrator.execution.backend import PhaseRequest
from otorchestrator.execution.inventory import phase_inventory
from otorchestrator.lab.config import LabConfig
from otorchestrator.lab.zones import zones_dir
from otorchestrator.models.results import Phase
from otorchestrator.nodes.backend import NodesBackend

DIRECT = ("nw-hist-01", "nw-hmi-02", "nw-ews-01", "nw-sis-01")
ZONED = ("nw-scada-a", "nw-scada-b", "nw-hmi-01", "nw-gw-01")  # behind node-supervisory, -cell-a, -idmz


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _request(hosts: tuple[str, ...], inventory: Path, label: str) -> PhaseRequest:
    return PhaseRequest(
        phase=Phase.VERIFY,
        hosts=hosts,
        inventory=phase_inventory(inventory, hosts),
        extravars={"otorch_run_id": label, "otorch_phase": "verify", "otorch_patches": {}},
        run_label=label,
    )


def _one(
    backend: object, hosts: tuple[str, ...], inventory: Path, label: str, per_host: bool
) -> tuple[float, float, int]:
    groups = [(h,) for h in hosts] if per_host else [hosts]
    requests = [_request(g, inventory, f"{label}-{i}") for i, g in enumerate(groups)]
    cpu0, t0 = _cpu(), time.monotonic()
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        outcomes = list(pool.map(backend.run_phase, requests))  # type: ignore[attr-defined]
    wall, cpu = time.monotonic() - t0, _cpu() - cpu0
    ok = sum(1 for o in outcomes for r in o.results.values() if r.ok)
    return wall, cpu, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    inventory = zones_dir(LabConfig.from_env())
    state = Path(mkdtemp(prefix="otbench-zones-"))
    direct, nodes = AnsibleRunnerBackend(state), NodesBackend(state)
    sides = {
        "direct per-host": (direct, DIRECT, True),
        "nodes per-host": (nodes, ZONED, True),
        "direct one job": (direct, DIRECT, False),
        "nodes one job": (nodes, ZONED, False),
    }
    rows: dict[str, list[tuple[float, float, int]]] = {name: [] for name in sides}
    for i in range(args.rounds):
        order = list(sides.items()) if i % 2 == 0 else list(reversed(sides.items()))
        for name, (backend, hosts, per_host) in order:
            label = f"bench{i}{name.replace(' ', '')}"
            rows[name].append(_one(backend, hosts, inventory, label, per_host))
            wall, cpu, ok = rows[name][-1]
            print(f"round {i} {name:15}: {wall:5.1f} s wall, {cpu:5.2f} s controller CPU, {ok}/{len(hosts)}")
    medians: dict[str, tuple[float, float]] = {}
    for name, (_, hosts, _) in sides.items():
        n = len(hosts)
        walls, cpus = sorted(r[0] for r in rows[name]), sorted(r[1] for r in rows[name])
        wall, cpu = walls[len(walls) // 2], cpus[len(cpus) // 2]
        medians[name] = (wall, cpu)
        print(
            f"{name:15}: wall median {wall:.1f} s ({wall / n:.2f} s/host, {walls[0]:.1f}-{walls[-1]:.1f}), "
            f"controller CPU median {cpu:.2f} s ({cpu / n:.2f} s/host, {cpus[0]:.2f}-{cpus[-1]:.2f})"
        )
    for shape in ("per-host", "one job"):
        (dw, dc), (nw, nc) = medians[f"direct {shape}"], medians[f"nodes {shape}"]
        print(f"nodes/direct, {shape}: wall {nw / dw:.2f}x, controller CPU {nc / dc:.2f}x")


if __name__ == "__main__":
    main()
