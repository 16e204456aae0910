"""What a killed drill left of a host, read from the store (never from the audit file): the host's current
attempt (its transitions and phase results since it last entered diagnosing) and, for a host the drill had
finished, its verdict rebuilt from those records (`Drill.resume`, execution/drill.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from otorchestrator.execution.drill_models import DrillHostResult, phase_ok, phase_step, scan_data
from otorchestrator.models.catalog import Patch
from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import HostState, HostStateRecord, PhaseResultRecord, Transition
from otorchestrator.planning.drift import Difference, compare_scans, scan_values
from otorchestrator.store.state import StateStore


@dataclass(frozen=True)
class Attempt:
    transitions: Sequence[Transition]
    records: Sequence[PhaseResultRecord]

    @property
    def installing(self) -> bool:
        """The host was moved to installing: the install may have run (it is never run again)."""
        return any(t.to_state is HostState.INSTALLING for t in self.transitions)

    @property
    def rolling_back(self) -> bool:
        """The host was moved to rolling back: a scan now would not tell whether the install ran."""
        return any(t.to_state is HostState.ROLLING_BACK for t in self.transitions)

    def results(self, phase: Phase) -> list[PhaseResult]:
        return [r.result for r in self.records if r.result.phase is phase]

    def phases(self) -> list[Phase]:
        return [r.result.phase for r in self.records]


def at_target(scan: PhaseResult, patch: Patch) -> bool:
    """The scan shows the patch's package at its target version (the install ran)."""
    packages = scan_values(scan_data(scan)).get("packages") or {}
    return bool(patch.package) and phase_ok(scan) and packages.get(patch.package) == patch.target_version


def install_proven(tried: Attempt, patch: Patch) -> bool:
    """The attempt's install is known to have run: its result is recorded, or a probe scan after the
    backup (a resumed drill's, before its rollback) found the patch installed."""
    phases = tried.phases()
    if Phase.INSTALL in phases:
        return True
    if Phase.BACKUP not in phases:
        return False
    after_backup = tried.records[len(phases) - phases[::-1].index(Phase.BACKUP) :]
    probes = []
    for r in after_backup:
        if r.result.phase is Phase.ROLLBACK:
            break
        if r.result.phase is Phase.SCAN:
            probes.append(r.result)
    return any(at_target(p, patch) for p in probes)


def record_seconds(record: PhaseResultRecord) -> float:
    return round((record.finished_at - record.started_at).total_seconds(), 3)


def attempt(store: StateStore, drill_id: str, host: str) -> Attempt:
    """The host's transitions and phase results since its drill last started (entered diagnosing)."""
    transitions = store.transitions(drill_id, host)
    starts = [i for i, t in enumerate(transitions) if t.to_state is HostState.DIAGNOSING]
    mine = transitions[starts[-1] :] if starts else []
    if not mine:
        return Attempt((), ())
    since = mine[0].at
    return Attempt(
        tuple(mine), tuple(r for r in store.phase_results(drill_id, host) if r.started_at >= since)
    )


def settled(record: HostStateRecord, tried: Attempt, patch: Patch) -> DrillHostResult:
    """The verdict of a host a killed drill had finished (its `drill_result` is on the record already)."""
    scans = tried.results(Phase.SCAN)
    rollbacks = [r for r in tried.records if r.result.phase is Phase.ROLLBACK]
    verify = tried.results(Phase.VERIFY)
    differences: tuple[Difference, ...] = ()
    if rollbacks and len(scans) > 1 and phase_ok(scans[0]) and phase_ok(scans[-1]):
        differences = compare_scans(scan_data(scans[0]), scan_data(scans[-1]))
    unproven = bool(rollbacks) and not install_proven(tried, patch)  # see DrillHostResult.inconclusive
    restored = record.state is HostState.ROLLED_BACK
    return DrillHostResult(
        host=record.host,
        passed=restored and not unproven,
        inconclusive=restored and unproven,
        final_state=record.state,
        phases=tuple(phase_step(r.result, record_seconds(r)) for r in tried.records),
        verification_ok=phase_ok(verify[-1]) if verify else None,
        rollback_ok=phase_ok(rollbacks[-1].result) if rollbacks else None,
        rollback_seconds=record_seconds(rollbacks[-1]) if rollbacks else None,
        differences=differences,
        message=record.detail,
    )
