"""Every attempt to patch an asset, run by run (pure): installed, reversed later, failed, rolled back,
blocked by diagnostics, held, skipped by exemption. The asset history (`otorch records`), the compliance
report and the CVE evidence chain read these; nothing here reads a file or the clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from otorchestrator.models.plan import Plan
from otorchestrator.models.results import Phase
from otorchestrator.models.run import (
    AuditEvent,
    HostState,
    HostStateRecord,
    PhaseResultRecord,
    RunRecord,
    Transition,
)
from otorchestrator.models.waves import WaveHost, WavePlan
from otorchestrator.reporting.checks import failure_sentence, rollback_proof
from otorchestrator.reporting.redact import ReportRedactor
from otorchestrator.reporting.text import join_reasons
from otorchestrator.store.history import InstallRow


class AttemptOutcome(StrEnum):
    INSTALLED = "installed"  # verified and still in effect
    REVERSED = "reversed"  # verified, reversed later by a rollback
    ROLLED_BACK = "rolled_back"  # install or verification failed, rolled back to the backup
    FAILED = "failed"  # failed and not (or not fully) rolled back: operator attention
    BLOCKED = "blocked"  # refused by diagnostics before anything changed
    HELD = "held"  # the wave plan held it (approval, dependency)
    EXEMPT = "skipped_exempt"  # skipped: an exemption (dated mitigation plan) applies
    NOT_ATTEMPTED = "not_attempted"  # pending / skipped (budget, window, halt)


REDACTOR = ReportRedactor()  # free text from results: no secret pattern ever reaches a record line
_FAILED_STATES = frozenset(
    {
        HostState.FAILED,
        HostState.ROLLBACK_FAILED,
        HostState.UNREACHABLE,
        HostState.TIMED_OUT,
        HostState.NEEDS_RECONCILE,
    }
)


class Attempt(BaseModel):
    model_config = ConfigDict(frozen=True)

    asset: str
    run_id: str
    check_mode: bool = False
    wave: int | None = None
    wave_name: str | None = None
    at: datetime  # when the host's part of the run started (the run start when it never started)
    finished_at: datetime | None = None
    outcome: AttemptOutcome
    state: str  # the host's end state in the run ("held" / "exempt" when never registered)
    patches: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()
    versions_before: dict[str, str] = Field(default_factory=dict)
    versions_after: dict[str, str] = Field(default_factory=dict)
    versions_attempted: dict[str, str] = Field(default_factory=dict)  # package -> target version
    reason: str = ""
    failed_phase: str | None = None
    rolled_back_at: datetime | None = None
    reversed_by_run: str | None = None
    reversed_at: datetime | None = None
    evidence: tuple[str, ...] = ()  # backup id, install row ids, audit sequence numbers

    @property
    def changed_nothing(self) -> bool:
        return self.outcome in (AttemptOutcome.BLOCKED, AttemptOutcome.HELD, AttemptOutcome.EXEMPT)


@dataclass(frozen=True)
class RunView:
    """One run as the attempts need it (every host of the run)."""

    run: RunRecord
    host_states: dict[str, HostStateRecord]
    transitions: list[Transition]
    phase_results: list[PhaseResultRecord]
    waveplan: WavePlan | None
    events: list[AuditEvent] = field(default_factory=list)  # this run's audit events


def _seqs(events: Sequence[AuditEvent]) -> str | None:
    seqs = sorted(e.seq for e in events if e.seq)
    if not seqs:
        return None
    span = f"{seqs[0]}" if len(seqs) == 1 else f"{seqs[0]}-{seqs[-1]}"
    return f"audit seq {span} ({len(seqs)} events)"


def _wave_host(waveplan: WavePlan | None, asset: str) -> tuple[int | None, str | None, WaveHost | None]:
    for wave in waveplan.waves if waveplan else ():
        for host in wave.hosts:
            if host.name == asset:
                return wave.index, wave.name, host
    return None, None, None


def _targets(waveplan: WavePlan | None, patch_ids: Sequence[str]) -> dict[str, str]:
    patches = {p.id: p for p in waveplan.patches} if waveplan else {}
    return {
        p.package: p.target_version
        for pid in patch_ids
        if (p := patches.get(pid)) is not None and p.package is not None
    }


def _versions(results: Sequence[PhaseResultRecord], *, before: bool) -> dict[str, str]:
    """Versions from the phase results when the host state lacks them: the first reported before the
    install, the last reported after (a rollback's restored versions included)."""
    found = [r.result.versions_before if before else r.result.versions_after for r in results]
    found = [f for f in found if f]
    if not found:
        return {}
    return dict(found[0] if before else found[-1])


def _outcome(state: HostStateRecord, rows: Sequence[InstallRow]) -> AttemptOutcome:
    s = state.state
    if s is HostState.SUCCEEDED:
        return (
            AttemptOutcome.REVERSED if rows and all(r.reversed_at for r in rows) else AttemptOutcome.INSTALLED
        )
    if s is HostState.ROLLED_BACK:
        return AttemptOutcome.ROLLED_BACK
    if s is HostState.BLOCKED:
        return AttemptOutcome.BLOCKED
    if s in _FAILED_STATES:
        return AttemptOutcome.FAILED
    return AttemptOutcome.NOT_ATTEMPTED


def _why(state: HostStateRecord, results: Sequence[PhaseResultRecord]) -> tuple[str, str | None]:
    """(reason, failed phase): the first failing phase's sentence, then the rollback's."""
    failed = [r for r in results if not (r.result.ok and r.result.outcome.value == "ok")]
    first = next((r for r in failed if r.result.phase is not Phase.ROLLBACK), None)
    parts = [failure_sentence(first.result)] if first else []
    rollback = [r for r in results if r.result.phase is Phase.ROLLBACK]
    if rollback:
        last = rollback[-1].result
        where = f"backup {last.backup_id}" if last.backup_id else "the backup"
        parts.append(
            f"rolled back to {where} ({rollback_proof(last)})" if last.ok else failure_sentence(last)
        )
    if not parts:
        parts.append(state.detail)
    return join_reasons(*parts), first.result.phase.value if first else None


def attempt_in_run(view: RunView, asset: str, installs: Sequence[InstallRow]) -> Attempt | None:
    """The asset's attempt in this run, or None when the run had nothing for it."""
    run, waveplan = view.run, view.waveplan
    state = view.host_states.get(asset)
    events = [e for e in view.events if e.host == asset]
    if state is None:
        return _not_in_run(view, asset, events)
    index, name, host = _wave_host(waveplan, asset)
    patch_ids = host.patch_ids if host else ()
    cves = tuple(dict.fromkeys(c for i in (host.items if host else ()) for c in i.cves))
    transitions = [t for t in view.transitions if t.host == asset and t.from_state is not None]
    results = [r for r in view.phase_results if r.result.host == asset]
    rows = [r for r in installs if r.record.asset == asset and r.record.run_id == run.run_id]
    outcome = _outcome(state, rows)
    reason, failed_phase = ("verified", None) if outcome is AttemptOutcome.INSTALLED else _why(state, results)
    rolled = next((t.at for t in reversed(transitions) if t.to_state is HostState.ROLLED_BACK), None)
    evidence = [f"backup {state.backup_id}"] if state.backup_id else []
    evidence += [f"install #{r.id}" for r in rows]
    if (seq := _seqs(events)) is not None:
        evidence.append(seq)
    reversed_row = next((r for r in rows if r.reversed_at), None)
    before = dict(state.versions_before) or _versions(results, before=True)
    after = dict(state.versions_after) or _versions(results, before=False)
    if outcome is AttemptOutcome.REVERSED and reversed_row is not None:
        reason = f"verified, then reversed by run {reversed_row.reversed_by_run}"
    return Attempt(
        asset=asset,
        run_id=run.run_id,
        check_mode=run.check_mode,
        wave=state.wave,
        wave_name=name if index == state.wave else None,
        at=transitions[0].at if transitions else run.started_at,
        finished_at=state.updated_at if transitions else None,
        outcome=outcome,
        state=state.state.value,
        patches=patch_ids,
        cves=cves,
        versions_before=before,
        versions_after=after,
        versions_attempted=_targets(waveplan, patch_ids),
        reason=REDACTOR.text(reason, 1200),
        failed_phase=failed_phase,
        rolled_back_at=rolled if outcome is AttemptOutcome.ROLLED_BACK else None,
        reversed_by_run=reversed_row.reversed_by_run if reversed_row else None,
        reversed_at=reversed_row.reversed_at if reversed_row else None,
        evidence=tuple(evidence),
    )


def _not_in_run(view: RunView, asset: str, events: Sequence[AuditEvent]) -> Attempt | None:
    """Held or excluded by the run's wave plan (never registered as a host of the run)."""
    waveplan = view.waveplan
    if waveplan is None:
        return None
    hold = next((h for h in waveplan.holds if h.asset == asset), None)
    left = [e for e in waveplan.exclusions if e.asset == asset]
    if hold is None and not left:
        return None
    if hold is not None:
        outcome, patches = AttemptOutcome.HELD, hold.patch_ids
        reason = join_reasons(hold.reason, f"released by: {hold.release}" if hold.release else "")
    else:
        exempt = [e for e in left if "exempt" in e.reason.lower()]
        if not exempt:
            return None  # blocked / deferred items are plan decisions, not attempts
        outcome, patches = AttemptOutcome.EXEMPT, tuple(e.patch_id for e in exempt)
        reason = join_reasons(*(e.reason for e in exempt))
    seq = _seqs(events)
    return Attempt(
        asset=asset,
        run_id=view.run.run_id,
        check_mode=view.run.check_mode,
        at=view.run.started_at,
        outcome=outcome,
        state=outcome.value,
        patches=tuple(patches),
        versions_attempted=_targets(waveplan, patches),
        reason=REDACTOR.text(reason, 1200),
        evidence=(seq,) if seq else (),
    )


def asset_attempts(
    asset: str, runs: Sequence[RunView], installs: Sequence[InstallRow], plan: Plan | None = None
) -> tuple[Attempt, ...]:
    """The asset's attempts, oldest run first; CVEs filled from the plan when the wave plan lacks them."""
    cves = {i.patch_id: i.cves for i in plan.items if i.asset == asset} if plan else {}
    out = []
    for view in sorted(runs, key=lambda v: (v.run.started_at, v.run.run_id)):
        found = attempt_in_run(view, asset, installs)
        if found is None:
            continue
        if not found.cves and cves:
            merged = tuple(dict.fromkeys(c for p in found.patches for c in cves.get(p, ())))
            found = found.model_copy(update={"cves": merged})
        out.append(found)
    return tuple(out)
