"""Read what a report needs from the state store, the audit log and the plan files (the only I/O of
reporting besides writing the rendered files)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import ValidationError

from otorchestrator.models.plan import Plan
from otorchestrator.models.run import (
    AuditEvent,
    AuditHead,
    BaselineRecord,
    HostStateRecord,
    InstalledPatchRecord,
    PhaseResultRecord,
    RunRecord,
    Transition,
)
from otorchestrator.models.waves import WavePlan
from otorchestrator.reporting.attempts import RunView
from otorchestrator.store.audit import AuditVerification, read_events, verify
from otorchestrator.store.history import InstallRow, installs
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore, TaskEventRecord, WaveRecord


@dataclass(frozen=True)
class RunSources:
    run: RunRecord
    host_states: dict[str, HostStateRecord]
    transitions: list[Transition]
    phase_results: list[PhaseResultRecord]
    run_events: list[AuditEvent]
    store_head: AuditHead | None
    audit: AuditVerification | None
    waveplan: WavePlan | None = None
    notes: tuple[str, ...] = ()
    task_events: list[TaskEventRecord] = field(default_factory=list)
    wave_records: list[WaveRecord] = field(default_factory=list)
    plan: Plan | None = None  # the evaluated plan: CVEs and decisions of the hosts not in a wave
    installs: list[InstallRow] = field(default_factory=list)
    baselines: dict[str, BaselineRecord] = field(default_factory=dict)  # host -> last scan before the run

    def view(self) -> RunView:
        return RunView(
            run=self.run,
            host_states=self.host_states,
            transitions=self.transitions,
            phase_results=self.phase_results,
            waveplan=self.waveplan,
            events=self.run_events,
        )


@dataclass(frozen=True)
class RunHistory:
    """Every run of the store with its phase results and wave plan: for evidence across runs."""

    run: RunRecord
    phase_results: list[PhaseResultRecord]
    waveplan: WavePlan | None


@dataclass(frozen=True)
class ComplianceSources:
    plan: Plan | None
    baselines: dict[str, BaselineRecord]  # asset -> latest baseline
    history: list[InstalledPatchRecord]
    runs: list[RunHistory]
    drill_events: list[AuditEvent]
    notes: tuple[str, ...] = field(default=())
    audit: AuditVerification | None = None  # the audit chain the drill evidence was read from
    views: list[RunView] = field(default_factory=list)  # every run, for the attempts per asset
    installs: list[InstallRow] = field(default_factory=list)  # every install, reversed ones included
    kev_due: dict[str, date] = field(default_factory=dict)  # CVE -> the KEV catalog's own due date


def load_waveplan(path: str | Path | None) -> tuple[WavePlan | None, str | None]:
    """The wave plan at `path`, or None with a note why not."""
    if not path:
        return None, None
    try:
        return WavePlan.model_validate_json(Path(path).read_text(encoding="utf-8")), None
    except (OSError, ValidationError, ValueError) as exc:
        return None, f"wave plan {path} not read ({type(exc).__name__}); waves shown from the store only"


def load_plan(path: str | Path) -> Plan:
    return Plan.model_validate_json(Path(path).read_text(encoding="utf-8"))


def load_plan_note(path: str | Path | None) -> tuple[Plan | None, str | None]:
    """The saved plan at `path`, or None with a note why not."""
    if not path:
        return None, None
    try:
        return load_plan(path), None
    except (OSError, ValidationError, ValueError) as exc:
        return None, f"plan {path} not read ({type(exc).__name__}): CVEs of hosts outside the waves unknown"


def baselines_before(db: Path, hosts: Iterable[str], before: datetime) -> dict[str, BaselineRecord]:
    """Each host's latest baseline scan taken at or before `before` (the pre-patch baseline of a run),
    read from the store without writing to it."""
    out: dict[str, BaselineRecord] = {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        for host in hosts:
            row = conn.execute(
                "SELECT asset, at, run_id, data FROM baselines WHERE asset = ? AND at <= ?"
                " ORDER BY at DESC, id DESC LIMIT 1",
                (host, before.astimezone(UTC).isoformat()),
            ).fetchone()
            if row is not None:
                at = datetime.fromisoformat(row[1])
                out[host] = BaselineRecord(asset=row[0], at=at, run_id=row[2], data=json.loads(row[3]))
    finally:
        conn.close()
    return out


def load_run_sources(
    paths: StatePaths, run_id: str, waveplan_path: Path | None = None, plan_path: Path | None = None
) -> RunSources:
    """Raises `RunNotFound` when the run is not in the store."""
    with StateStore(paths.db) as store:
        run = store.get_run(run_id)
        host_states = store.host_states(run_id)
        transitions = store.transitions(run_id)
        results = store.phase_results(run_id)
        tasks = store.task_events(run_id)
        wave_records = store.waves(run_id)
        rows = [r for r in installs(store) if r.record.run_id == run_id or r.reversed_by_run == run_id]
        head = store.audit_head()
    audit = verify(paths.audit, head) if paths.audit.exists() else None
    events = [e for _, e in read_events(paths.audit) if e.run_id == run_id]
    waveplan, note = load_waveplan(waveplan_path or run.waveplan_path)
    plan, plan_note = load_plan_note(plan_path or run.plan_path)
    baselines = baselines_before(paths.db, host_states, run.started_at)
    notes = tuple(n for n in (note, plan_note) if n)
    return RunSources(
        run=run,
        host_states=host_states,
        transitions=transitions,
        phase_results=results,
        run_events=events,
        store_head=head,
        audit=audit,
        waveplan=waveplan,
        notes=notes,
        task_events=tasks,
        wave_records=wave_records,
        plan=plan,
        installs=rows,
        baselines=baselines,
    )


DRILL_EVENT_KIND = "drill_result"


def load_run_views(store: StateStore, events: list[AuditEvent]) -> list[RunView]:
    """Every run of the store with its hosts, transitions, phase results, wave plan and audit events."""
    views = []
    for run in store.list_runs():
        waveplan, _ = load_waveplan(run.waveplan_path)
        views.append(
            RunView(
                run=run,
                host_states=store.host_states(run.run_id),
                transitions=store.transitions(run.run_id),
                phase_results=store.phase_results(run.run_id),
                waveplan=waveplan,
                events=[e for e in events if e.run_id == run.run_id],
            )
        )
    return views


def load_compliance_sources(
    paths: StatePaths, plan: Plan | None, assets: list[str], kev_due: dict[str, date] | None = None
) -> ComplianceSources:
    notes: list[str] = []
    views: list[RunView] = []
    all_events = [e for _, e in read_events(paths.audit)]
    with StateStore(paths.db) as store:
        baselines: dict[str, BaselineRecord] = {}
        for asset in assets:
            record = store.latest_baseline(asset)
            if record is not None:
                baselines[asset] = record
        history = store.patch_history()
        runs: list[RunHistory] = []
        for run in store.list_runs():
            waveplan, note = load_waveplan(run.waveplan_path)
            if note:
                notes.append(f"run {run.run_id}: {note}")
            results = store.phase_results(run.run_id)
            runs.append(RunHistory(run=run, phase_results=results, waveplan=waveplan))
            views.append(
                RunView(
                    run=run,
                    host_states=store.host_states(run.run_id),
                    transitions=store.transitions(run.run_id),
                    phase_results=results,
                    waveplan=waveplan,
                    events=[e for e in all_events if e.run_id == run.run_id],
                )
            )
        rows = installs(store)
        head = store.audit_head()
    # the drill evidence is only as good as the chain it is read from: verify it (head anchored in the store)
    audit = verify(paths.audit, head) if paths.audit.exists() or head is not None else None
    drills = [e for e in all_events if e.kind == DRILL_EVENT_KIND]
    return ComplianceSources(
        plan=plan,
        baselines=baselines,
        history=history,
        runs=runs,
        drill_events=drills,
        notes=tuple(notes),
        audit=audit,
        views=views,
        installs=rows,
        kev_due=dict(kev_due or {}),
    )
