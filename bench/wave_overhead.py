"""Overhead of otorch over plain ansible-playbook, on the same lab hosts, playbooks and variables.

Each repetition runs the same two waves (hosts split in halves; per wave: diagnostics, backup, install,
verify) once with plain `ansible-playbook` (one process per phase, `--limit` to the wave) and once with
`otorch` (Orchestrator + AnsibleRunnerBackend, state store and audit log written before every step),
alternating which goes first; hosts are reset to their baseline before every run (not timed).
Prints per-run times, the median ratio otorch/plain and the gap between waves (end of wave 0's last phase
to the start of wave 1's first phase). Targets: ratio <= 1.10, gap < 1 s. Print only, no asserts.

    OTORCH_LAB_NAME=otbench OTORCH_LAB_PORT_OFFSET=500 python bench/wave_overhead.py --hosts 6 --reps 3

A repetition in which otorch's run did not end with every host succeeded is reported and excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otorchestrator.execution.ansible import AnsibleRunnerBackend  # noqa: E402
from otorchestrator.execution.observer import NullObserver  # noqa: E402
from otorchestrator.execution.options import RunOptions  # noqa: E402
from otorchestrator.execution.orchestrator import Orchestrator  # noqa: E402
from otorchestrator.execution.vars import phase_extravars  # noqa: E402
from otorchestrator.intake.catalog import load_catalog_strict  # noqa: E402
from otorchestrator.intake.inventory import load_inventory  # noqa: E402
from otorchestrator.lab import LabConfig, lifecycle  # noqa: E402
from otorchestrator.models.plan import Approval, Decision  # noqa: E402
from otorchestrator.models.policy import WavePolicy  # noqa: E402
from otorchestrator.models.results import Phase  # noqa: E402
from otorchestrator.models.waves import Rule, Wave, WaveHost, WaveItem, WavePlan  # noqa: E402
from otorchestrator.store.audit import AuditLog  # noqa: E402
from otorchestrator.store.clock import SystemClock  # noqa: E402
from otorchestrator.store.paths import StatePaths  # noqa: E402
from otorchestrator.store.state import StateStore  # noqa: E402

# hosts whose patch installs and verifies cleanly, and that patch (every lab host that has one)
CLEAN = {
    "nw-hmi-01": "NWC-P-2026-0103",
    "nw-hmi-02": "NWC-P-2026-0103",
    "nw-scada-a": "NWC-P-2026-0101",
    "nw-scada-b": "NWC-P-2026-0101",
    "nw-sis-01": "NWC-P-2026-0103",  # a safety system: the bench plan records its approval
    "nw-ews-01": "NWC-P-2026-0106",  # the drill agent (clean without the leave_telemetry knob)
}
EXPECTED_STATE = "succeeded"  # every host of the bench ends like this, or the repetition is not counted
PHASES = (Phase.DIAGNOSTICS, Phase.BACKUP, Phase.INSTALL, Phase.VERIFY)


def build_plan(cfg: LabConfig, hosts: list[str]) -> WavePlan:
    now = datetime.now(UTC)
    assets = load_inventory(cfg.inventory_dir).by_name()
    patches = load_catalog_strict(cfg.inventory_dir / "catalog.yml").by_id()
    policy = WavePolicy()
    halves = [hosts[: (len(hosts) + 1) // 2], hosts[(len(hosts) + 1) // 2 :]]
    waves = []
    for index, names in enumerate(h for h in halves if h):
        wave_hosts = []
        for name in names:
            asset, patch = assets[name], patches[CLEAN[name]]
            approval = (
                Approval(kind="asset", subject=name, approved_by="bench", reason="bench", at=now)
                if policy.needs_approval(asset.criticality, asset.safety_system)
                else None
            )
            wave_hosts.append(
                WaveHost(
                    name=name, zone=asset.zone, purdue_level=asset.purdue_level, role=asset.role,
                    criticality=asset.criticality, safety_system=asset.safety_system,
                    items=(WaveItem(patch_id=patch.id, priority_rank=1, decision=Decision.SCHEDULED),),
                    duration_minutes=patch.expected_duration_minutes, rollback_minutes=patch.rollback_minutes,
                    window_start=now - timedelta(hours=1), window_end=now + timedelta(hours=20),
                    latest_start=now + timedelta(hours=19), approval=approval,
                    placement_rule=Rule.RISK_ORDER, placement_reason="bench",
                )
            )  # fmt: skip
        waves.append(
            Wave(
                index=index, name=f"wave-{index}", kind="wave", slot_start=now,
                slot_end=now + timedelta(hours=1), failure_budget=len(hosts), hosts=tuple(wave_hosts),
            )
        )  # fmt: skip
    return WavePlan(
        created_at=now, plan_hash="sha256:" + "0" * 64, policy_hash=policy.compute_hash(), policy=policy,
        inventory=str(cfg.inventory_dir), assets=tuple(assets[h] for h in hosts),
        patches=tuple({CLEAN[h]: patches[CLEAN[h]] for h in hosts}.values()), waves=tuple(waves),
    ).sealed()  # fmt: skip


def env_for(cfg: LabConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
        OTORCH_LAB_PORT_OFFSET=str(cfg.port_offset),
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    )
    return env


def run_plain(cfg: LabConfig, plan: WavePlan, work: Path) -> float:
    env = env_for(cfg)
    patches = plan.patch_map()
    started = time.monotonic()
    for wave in plan.waves:
        for phase in PHASES:
            extravars: dict[str, Any] = phase_extravars(phase, wave.hosts, patches, run_id="plain")
            extravars.update(
                otorch_backup_store_dir=str(work / "plain-backups"), otorch_backup_id=f"plain-w{wave.index}"
            )
            vars_file = work / f"plain-{wave.index}-{phase.value}.json"
            vars_file.write_text(json.dumps(extravars))
            playbook = str(ROOT / "playbooks" / f"{phase.value}.yml")
            subprocess.run(
                ["ansible-playbook", "-i", str(cfg.inventory_dir), playbook,
                 "--limit", ",".join(h.name for h in wave.hosts), "-e", f"@{vars_file}"],
                env=env, cwd=ROOT, capture_output=True, check=True,
            )  # fmt: skip
    return time.monotonic() - started


class GapObserver(NullObserver):
    def __init__(self) -> None:
        self.finished: dict[int, float] = {}
        self.started: dict[int, float] = {}

    def phase_started(self, wave: int, phase: Phase, hosts: Any, at: datetime) -> None:
        self.started.setdefault(wave, time.monotonic())

    def phase_finished(self, wave: int, outcome: Any, at: datetime) -> None:
        self.finished[wave] = time.monotonic()

    def gap(self) -> float | None:
        return self.started[1] - self.finished[0] if 0 in self.finished and 1 in self.started else None


def unexpected_outcomes(summary: Any, plan: WavePlan) -> list[str]:
    """What in otorch's run did not end as the bench expects (every host succeeded, run completed)."""
    problems = []
    if summary.run.status.value != "completed":
        problems.append(f"run {summary.run.status.value}: {summary.run.status_detail}")
    got = {h.host: h for h in summary.hosts}
    for name in (h.name for w in plan.waves for h in w.hosts):
        record = got.get(name)
        if record is None:
            problems.append(f"{name}: not in the run")
        elif record.state.value != EXPECTED_STATE:
            problems.append(f"{name}: {record.state.value} ({record.detail[:160]})")
    return problems


def run_otorch(
    cfg: LabConfig, plan: WavePlan, work: Path, rep: int
) -> tuple[float, float | None, str, list[str]]:
    paths = StatePaths(work / f"otorch-{rep}").ensure()
    observer = GapObserver()
    os.environ["OTORCH_LAB_PORT_OFFSET"] = str(cfg.port_offset)
    with StateStore(paths.db) as store:
        audit = AuditLog(paths.audit, head_store=store)
        orch = Orchestrator(AnsibleRunnerBackend(paths), store, audit, SystemClock(), observer)
        options = RunOptions(
            operator="bench", inventory=cfg.inventory_dir,
            extravars={"otorch_backup_store_dir": str(paths.backups.resolve())},
        )  # fmt: skip
        started = time.monotonic()
        summary = orch.run(plan, options)
        elapsed = time.monotonic() - started
    counts = ",".join(f"{k}={v}" for k, v in summary.counts.items())
    return elapsed, observer.gap(), counts, unexpected_outcomes(summary, plan)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--hosts", type=int, default=4, help=f"lab hosts, 2..{len(CLEAN)} (the lab hosts with a clean patch)"
    )
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if not 2 <= args.hosts <= len(CLEAN):
        parser.error(
            f"--hosts {args.hosts}: the lab has {len(CLEAN)} hosts with a clean patch ({', '.join(CLEAN)})"
        )
    cfg = LabConfig.from_env()
    hosts = list(CLEAN)[: args.hosts]
    print(f"lab {cfg.name!r} (port offset {cfg.port_offset}); hosts: {', '.join(hosts)}; reps: {args.reps}")
    lifecycle.up(cfg, names=hosts)
    plan = build_plan(cfg, hosts)
    ratios: list[float] = []
    gaps: list[float] = []
    excluded = 0
    with tempfile.TemporaryDirectory(prefix="otbench-") as tmp:
        work = Path(tmp)
        for rep in range(args.reps):
            order = ("plain", "otorch") if rep % 2 == 0 else ("otorch", "plain")
            times: dict[str, float] = {}
            gap: float | None = None
            problems: list[str] = []
            for which in order:
                lifecycle.reset(cfg, names=hosts)
                if which == "plain":
                    times["plain"] = run_plain(cfg, plan, work)
                else:
                    times["otorch"], gap, counts, problems = run_otorch(cfg, plan, work, rep)
            ratio = times["otorch"] / times["plain"]
            gap_text = f"{gap:.3f}s" if gap is not None else "n/a"
            print(
                f"rep {rep + 1} ({order[0]} first): plain {times['plain']:.1f}s"
                f"  otorch {times['otorch']:.1f}s  ratio {ratio:.3f}"
                f"  gap between waves {gap_text}  [{counts}]"
            )
            if problems:  # otorch did not do the same work as plain ansible-playbook: not comparable
                excluded += 1
                print(
                    f"WARNING: rep {rep + 1} excluded, otorch's run did not end as expected:", file=sys.stderr
                )
                for problem in problems:
                    print(f"  - {problem}", file=sys.stderr)
                continue
            ratios.append(ratio)
            if gap is not None:
                gaps.append(gap)
        lifecycle.reset(cfg, names=hosts)
    if excluded:
        print(f"WARNING: {excluded} of {args.reps} repetition(s) excluded (see above)", file=sys.stderr)
    if not ratios:
        print("no valid repetition: no ratio", file=sys.stderr)
        sys.exit(1)
    print(
        f"median ratio otorch/plain: {statistics.median(ratios):.3f} over {len(ratios)} rep(s)"
        " (target <= 1.10)"
    )
    if gaps:
        print(
            f"median gap between waves: {statistics.median(gaps):.3f}s, max {max(gaps):.3f}s (target < 1 s)"
        )


if __name__ == "__main__":
    main()
