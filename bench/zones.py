"""Direct vs through zone execution nodes: the same phase (verify, read-only) on lab hosts, run by the local
backend (the controller's own SSH to each host) and by the nodes backend (each zone's hosts as an
ansible-runner transmit stream to its node over SSH, events processed on the controller), alternating.

Prints wall time and controller CPU (this process and its children: ansible-playbook, ssh, the transmit and
process side) per host. The nodes' own CPU runs in their containers on this same machine and is not counted
as the controller's: that is the point of a node.

Needs the zoned lab: `otorch lab up --zones`. The zoned hosts (4, behind 3 nodes) are not reachable
directly, so "direct" runs the 4 unzoned lab hosts of the same kinds; both sides run 4 hosts.

    python bench/zones.py --rounds 3
"""

from __future__ import annotations

import argparse
import resource
import time
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


def _one(backend: object, hosts: tuple[str, ...], inventory: Path, label: str) -> tuple[float, float, int]:
    request = PhaseRequest(
        phase=Phase.VERIFY,
        hosts=hosts,
        inventory=phase_inventory(inventory, hosts),
        extravars={"otorch_run_id": label, "otorch_phase": "verify", "otorch_patches": {}},
        run_label=label,
    )
    cpu0, t0 = _cpu(), time.monotonic()
    outcome = backend.run_phase(request)  # type: ignore[attr-defined]
    wall, cpu = time.monotonic() - t0, _cpu() - cpu0
    ok = sum(1 for r in outcome.results.values() if r.ok)
    return wall, cpu, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    inventory = zones_dir(LabConfig.from_env())
    state = Path(mkdtemp(prefix="otbench-zones-"))
    sides = {
        "direct": (AnsibleRunnerBackend(state), DIRECT),
        "nodes": (NodesBackend(state), ZONED),
    }
    rows: dict[str, list[tuple[float, float, int]]] = {name: [] for name in sides}
    for i in range(args.rounds):
        for name, (backend, hosts) in sides.items() if i % 2 == 0 else reversed(sides.items()):
            rows[name].append(_one(backend, hosts, inventory, f"bench{i}{name}"))
            wall, cpu, ok = rows[name][-1]
            print(f"round {i} {name:6}: {wall:5.1f} s wall, {cpu:5.2f} s controller CPU, {ok}/{len(hosts)}")
    for name, (_, hosts) in sides.items():
        n = len(hosts)
        wall = sorted(r[0] for r in rows[name])[len(rows[name]) // 2]
        cpu = sorted(r[1] for r in rows[name])[len(rows[name]) // 2]
        print(
            f"{name:6}: wall median {wall:.1f} s ({wall / n:.2f} s/host), "
            f"controller CPU median {cpu:.2f} s ({cpu / n:.2f} s/host)"
        )


if __name__ == "__main__":
    main()
