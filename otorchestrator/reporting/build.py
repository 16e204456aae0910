"""Build the run report from store records (pure: `now` and the sources are passed in).

The compliance report and the CVE evidence are built in `reporting.compliance`; the report models are in
`reporting.models` (run) and `reporting.compliance_models`, and the reports re-exported here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from otorchestrator.models.results import Check, HostOutcome, Phase
from otorchestrator.models.run import HostState, HostStateRecord, PhaseResultRecord, Transition
from otorchestrator.models.waves import Exclusion, WaveHost, WavePlan
from otorchestrator.reporting import host_evidence
from otorchestrator.reporting.compliance import build_compliance_report, build_cve_evidence
from otorchestrator.reporting.compliance_models import ComplianceReport, CveEvidence
from otorchestrator.reporting.host_facts import host_cves, patch_targets, version_changes
from otorchestrator.reporting.models import (
    AuditSummary,
    EvidenceSection,
    FailedCheck,
    FailureEntry,
    HostRow,
    OutsideRow,
    PhaseTiming,
    RollbackEntry,
    RunReport,
    WaveRow,
)
from otorchestrator.reporting.redact import EXCERPT_CHARS, ReportRedactor, excerpt
from otorchestrator.reporting.sources import RunSources
from otorchestrator.reporting.text import join_reasons
from otorchestrator.reporting.timeline import run_timeline
from otorchestrator.store.state import TaskEventRecord

__all__ = [
    "ComplianceReport",
    "CveEvidence",
    "RunReport",
    "build_compliance_report",
    "build_cve_evidence",
    "build_run_report",
]

# end states that are a failure of the host; a blocked host was refused by diagnostics before anything
# changed: not a failure, reported apart (RunReport.refusals)
FAILED_STATES = frozenset(
    {
        HostState.FAILED,
        HostState.ROLLED_BACK,
        HostState.ROLLBACK_FAILED,
        HostState.UNREACHABLE,
        HostState.TIMED_OUT,
        HostState.NEEDS_RECONCILE,
    }
)


def _seconds(start: datetime, end: datetime) -> float:
    return round(max((end - start).total_seconds(), 0.0), 3)


def _timing(record: PhaseResultRecord, events: Sequence[TaskEventRecord] = ()) -> PhaseTiming:
    """The host's phase time: from the phase start to the host's own last task event of that phase (the
    phase record's end is the batch's, the same for every host of the call)."""
    result = record.result
    slack = timedelta(seconds=1)
    own = [
        e.at
        for e in events
        if e.host == result.host
        and e.phase is result.phase
        and record.started_at - slack <= e.at <= record.finished_at + slack
    ]
    end = min(max(own), record.finished_at) if own else record.finished_at
    return PhaseTiming(
        phase=result.phase,
        started_at=record.started_at,
        finished_at=end,
        duration_s=_seconds(record.started_at, end),
        ok=result.ok and result.outcome is HostOutcome.OK,
        outcome=result.outcome,
        failed_checks=tuple(c.name for c in result.failed_checks),
    )


def _failed_check(check: Check, redactor: ReportRedactor) -> FailedCheck:
    return FailedCheck(
        name=redactor.text(check.name, 120),
        value=redactor.text(check.value, 200),
        threshold=redactor.text(check.threshold, 200),
        detail=redactor.text(check.detail, EXCERPT_CHARS),
    )


def _failure(record: PhaseResultRecord, redactor: ReportRedactor) -> FailureEntry:
    result = record.result
    failed = result.failed_checks
    lines = [result.message, *(f"{c.name}: {c.detail}" for c in failed if c.detail)]
    return FailureEntry(
        host=result.host,
        wave=record.wave,
        phase=result.phase,
        at=record.finished_at,
        outcome=result.outcome.value if result.outcome is not HostOutcome.OK else "failed",
        checks=tuple(_failed_check(c, redactor) for c in failed),
        failed_task=redactor.text(result.failed_task, 200),
        excerpt=excerpt(lines, redactor),
    )


def _is_failure(record: PhaseResultRecord) -> bool:
    return not record.result.ok or record.result.outcome is not HostOutcome.OK


def _rollbacks(
    sources: RunSources, by_host: dict[str, list[PhaseResultRecord]], redactor: ReportRedactor
) -> list[RollbackEntry]:
    entries: list[RollbackEntry] = []
    starts: dict[str, list[Transition]] = {}
    for t in sources.transitions:
        if t.to_state is HostState.ROLLING_BACK:
            starts.setdefault(t.host, []).append(t)
    for host, transitions in starts.items():
        state = sources.host_states.get(host)
        rollbacks = [r for r in by_host.get(host, []) if r.result.phase is Phase.ROLLBACK]
        last = rollbacks[-1] if rollbacks else None
        start = transitions[-1]
        final = state.state if state else start.to_state
        entries.append(
            RollbackEntry(
                host=host,
                wave=start.wave,
                from_state=start.from_state,
                reason=redactor.text(start.detail, 300),
                started_at=last.started_at if last else start.at,
                finished_at=last.finished_at if last else None,
                duration_s=_seconds(last.started_at, last.finished_at) if last else None,
                final_state=final,
                ok=final is HostState.ROLLED_BACK,
            )
        )
    return sorted(entries, key=lambda e: (e.wave, e.host))


def _waves(sources: RunSources, rows: list[HostRow], waveplan: WavePlan | None) -> tuple[WaveRow, ...]:
    names = {w.index: w.name for w in waveplan.waves} if waveplan else {}
    budgets = {w.index: w.failure_budget for w in waveplan.waves} if waveplan else {}
    by_wave: dict[int, list[HostRow]] = {}
    for row in rows:
        by_wave.setdefault(row.wave, []).append(row)
    for index in names:
        by_wave.setdefault(index, [])
    moments: dict[int, list[datetime]] = {}
    for t in sources.transitions:
        if t.from_state is not None:  # registration is not the wave starting
            moments.setdefault(t.wave, []).append(t.at)
    for record in sources.phase_results:
        moments.setdefault(record.wave, []).extend((record.started_at, record.finished_at))
    waves = []
    for index in sorted(by_wave):
        hosts = by_wave[index]
        times = moments.get(index, [])
        waves.append(
            WaveRow(
                index=index,
                name=names.get(index, f"wave {index}"),
                started_at=min(times) if times else None,
                finished_at=max(times) if times else None,
                hosts=tuple(h.host for h in hosts),
                states=dict(sorted(Counter(h.state.value for h in hosts).items())),
                failure_budget=budgets.get(index),
            )
        )
    return tuple(waves)


def _audit(sources: RunSources) -> AuditSummary:
    audit, head = sources.audit, sources.store_head
    return AuditSummary(
        head_seq=audit.head_seq if audit else None,
        head_hash=audit.head_hash if audit else None,
        store_head_seq=head.seq if head else None,
        store_head_hash=head.hash if head else None,
        verified=audit.ok if audit else None,
        records=audit.records if audit else 0,
        problems=tuple(f"line {p.line}: {p.kind}: {p.detail}" for p in audit.problems) if audit else (),
        run_events=len(sources.run_events),
    )


def _group(records: Iterable[PhaseResultRecord]) -> dict[str, list[PhaseResultRecord]]:
    by_host: dict[str, list[PhaseResultRecord]] = {}
    for record in records:
        by_host.setdefault(record.result.host, []).append(record)
    return by_host


def _outside(sources: RunSources, redactor: ReportRedactor) -> tuple[OutsideRow, ...]:
    waveplan = sources.waveplan
    if waveplan is None:
        return ()
    plan_items = {(i.asset, i.patch_id): i for i in sources.plan.items} if sources.plan else {}

    def cves(host: str, patches: Iterable[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for p in patches if (i := plan_items.get((host, p))) for c in i.cves))

    rows = [
        OutsideRow(
            host=h.asset,
            placement="held",
            patches=h.patch_ids,
            cves=cves(h.asset, h.patch_ids),
            reason=redactor.text(
                join_reasons(h.reason, f"released by {h.release}" if h.release else ""), 400
            ),
        )
        for h in waveplan.holds
        if h.asset not in sources.host_states
    ]
    left: dict[str, list[Exclusion]] = {}
    for e in waveplan.exclusions:
        if all(r.host != e.asset for r in rows):  # an item left out of a placed host is listed too
            left.setdefault(e.asset, []).append(e)
    for host, found in left.items():
        decisions = {i.decision.value for e in found if (i := plan_items.get((host, e.patch_id)))}
        text = " ".join(e.reason.lower() for e in found)
        placement = next((d for d in ("exempt", "blocked") if d in decisions or d in text), "excluded")
        patches = tuple(e.patch_id for e in found)
        rows.append(
            OutsideRow(
                host=host,
                placement=placement,
                patches=patches,
                cves=cves(host, patches),
                reason=redactor.text(join_reasons(*(f"{e.patch_id}: {e.reason}" for e in found)), 600),
            )
        )
    return tuple(sorted(rows, key=lambda r: (r.placement, r.host)))


def _evidence(
    sources: RunSources,
    state: HostStateRecord,
    records: Sequence[PhaseResultRecord],
    host: WaveHost | None,
    redactor: ReportRedactor,
) -> tuple[EvidenceSection, ...]:
    events = [e for e in sources.run_events if e.host == state.host]
    rolled = any(t.host == state.host and t.to_state is HostState.ROLLING_BACK for t in sources.transitions)
    sections = [
        host_evidence.approvals(host, events, redactor),
        host_evidence.diagnostics(state, records, redactor),
        host_evidence.backup(state, records, redactor),
        host_evidence.artifact(events, sources.run_events, redactor),
        host_evidence.verification(state, records, redactor),
        host_evidence.rollback(state, records, rolled, redactor, sources.baselines.get(state.host)),
    ]
    return tuple(s for s in sections if s is not None)


def build_run_report(sources: RunSources, now: datetime, redactor: ReportRedactor | None = None) -> RunReport:
    redactor = redactor or ReportRedactor()
    waveplan = sources.waveplan
    wave_hosts = {h.name: h for w in waveplan.waves for h in w.hosts} if waveplan else {}
    plan_items = {(i.asset, i.patch_id): i for i in sources.plan.items} if sources.plan else {}
    by_host = _group(sources.phase_results)
    rows: list[HostRow] = []
    failures: list[FailureEntry] = []
    refusals: list[FailureEntry] = []
    for host, state in sources.host_states.items():
        records = by_host.get(host, [])
        planned = wave_hosts.get(host)
        timings = tuple(_timing(r, sources.task_events) for r in records)
        rows.append(
            HostRow(
                host=host,
                wave=state.wave,
                state=state.state,
                detail=redactor.text(state.detail, 300),
                patches=planned.patch_ids if planned else (),
                versions_before=dict(state.versions_before),
                versions_after=dict(state.versions_after),
                phases=timings,
                total_s=round(sum(t.duration_s for t in timings), 3),
                cves=host_cves(state, planned, plan_items),
                changes=version_changes(state, records, patch_targets(waveplan, planned)),
                evidence=_evidence(sources, state, records, planned, redactor),
            )
        )
        failed_records = [r for r in records if _is_failure(r)]
        if state.state is HostState.BLOCKED:
            refusals += [_failure(r, redactor) for r in failed_records]
            continue
        failures += [_failure(r, redactor) for r in failed_records]
        if not failed_records and state.state in FAILED_STATES and state.state is not HostState.ROLLED_BACK:
            failures.append(
                FailureEntry(
                    host=host,
                    wave=state.wave,
                    phase=state.phase,
                    at=state.updated_at,
                    outcome=state.state.value,
                    excerpt=redactor.text(state.detail, EXCERPT_CHARS),
                )
            )
    rows.sort(key=lambda r: (r.wave, r.host))
    failures.sort(key=lambda f: (f.wave, f.host, f.at or sources.run.started_at))
    refusals.sort(key=lambda f: (f.wave, f.host))
    run = sources.run
    outside = _outside(sources, redactor)
    return RunReport(
        generated_at=now,
        run_id=run.run_id,
        operator=redactor.text(run.operator, 120),
        status=run.status,
        status_detail=redactor.text(run.status_detail, 500),
        check_mode=run.check_mode,
        started_at=run.started_at,
        finished_at=run.finished_at,
        plan_hash=run.plan_hash,
        waveplan_hash=run.waveplan_hash,
        waves=_waves(sources, rows, waveplan),
        hosts=tuple(rows),
        failures=tuple(failures),
        rollbacks=tuple(_rollbacks(sources, by_host, redactor)),
        state_counts=dict(sorted(Counter(r.state.value for r in rows).items())),
        audit=_audit(sources),
        notes=sources.notes,
        outside=outside,
        timeline=run_timeline(waveplan, sources.plan, rows, outside),
        refusals=tuple(refusals),
    )
