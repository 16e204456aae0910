"""RunJournal is the one writer of a run's facts (issue 12 item 1): each writer audits the intent, then
stores, checked once; the engine's modules write the store and the audit log only through it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from otorchestrator.models.results import Phase
from otorchestrator.models.run import AuditKind, HostState, RunRecord, RunStatus
from otorchestrator.store.audit import AuditLog, read_events, verify
from otorchestrator.store.errors import AuditUnavailable, RunExists, RunNotFound, StateConflict
from otorchestrator.store.journal import RunJournal
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
ROOT = Path(__file__).parents[2] / "otorchestrator"

# every StateStore method that writes a run's facts, and the modules that must reach them through the journal
STORE_WRITES = {
    "create_run",
    "set_run_status",
    "register_hosts",
    "transition",
    "record_phase_result",
    "record_task_event",
    "wave_started",
    "wave_finished",
    "record_installed_patch",
    "reverse_installed_patches",
    "save_baseline",
}
ENGINE = [
    ROOT / "execution" / f"{name}.py"
    for name in ("orchestrator", "recorder", "waverunner", "soak", "phasejob", "hostchain", "budget")
] + [ROOT / "app" / f"{name}.py" for name in ("session", "runs", "aborts")]


def _receiver(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _direct_writes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner, method = _receiver(node.func.value), node.func.attr
        if (owner == "store" and method in STORE_WRITES) or (owner == "audit" and method == "append"):
            found.append(f"{path.name}:{node.lineno} {owner}.{method}")
    return found


def test_the_engine_writes_store_and_audit_only_through_the_journal() -> None:
    assert set(dir(StateStore)) >= STORE_WRITES  # the list names real writers
    assert [w for path in ENGINE for w in _direct_writes(path)] == []


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[RunJournal]:
    paths = StatePaths(tmp_path / "state").ensure()
    with StateStore(paths.db) as store:
        audit = AuditLog(paths.audit, head_store=store)
        yield RunJournal(store, audit, "run-1", "alice")


def _record() -> RunRecord:
    return RunRecord(run_id="run-1", operator="alice", waveplan_hash="w", plan_hash="p", started_at=T0)


def _kinds(journal: RunJournal) -> list[str]:
    return [e.kind for _, e in read_events(journal.audit.path)]


def test_start_run_audits_then_stores_and_refuses_an_existing_run_before_writing(journal: RunJournal) -> None:
    journal.start_run(_record(), {"waves": [0]})
    assert journal.store.get_run("run-1").status is RunStatus.RUNNING
    assert _kinds(journal) == [AuditKind.RUN_STARTED]
    with pytest.raises(RunExists):
        journal.start_run(_record(), {"waves": [0]})
    assert _kinds(journal) == [AuditKind.RUN_STARTED]  # the refusal wrote nothing


def test_run_status_needs_the_run_and_keeps_the_store_when_the_audit_is_lost(
    journal: RunJournal, tmp_path: Path
) -> None:
    with pytest.raises(RunNotFound):
        journal.run_status(RunStatus.HALTED, T0, "x")
    assert _kinds(journal) == []
    journal.start_run(_record(), {})
    journal.audit.path.rename(tmp_path / "kept")
    journal.audit.path.mkdir()  # the log cannot be written
    with pytest.raises(AuditUnavailable):
        journal.run_status(RunStatus.COMPLETED, T0, "")
    assert journal.store.get_run("run-1").status is RunStatus.RUNNING  # intent first: nothing stored
    journal.run_status(RunStatus.HALTED, T0, "audit unavailable", audit_lost=True)
    assert journal.store.get_run("run-1").status is RunStatus.HALTED


def test_register_hosts_refuses_a_known_host_before_writing(journal: RunJournal) -> None:
    journal.start_run(_record(), {})
    journal.register_hosts({"a": 0, "b": 1}, T0, {"a": ("P-a", "sha")})
    events = [e for _, e in read_events(journal.audit.path) if e.kind == AuditKind.TRANSITION]
    assert [(e.host, e.patch_id, e.result) for e in events] == [
        ("a", "P-a", "pending"),
        ("b", None, "pending"),
    ]
    with pytest.raises(StateConflict):
        journal.register_hosts({"c": 0, "b": 1}, T0)
    assert set(journal.store.host_states("run-1")) == {"a", "b"}
    assert len(_kinds(journal)) == 3


def test_an_install_is_recorded_once_per_run_and_its_reversal_once(journal: RunJournal) -> None:
    journal.start_run(_record(), {})
    journal.register_hosts({"a": 0}, T0)
    args = ("a", 0, "P-1", "pkg", "1.0", "1.1")
    assert journal.patch_installed(*args, T0) is True
    assert journal.patch_installed(*args, T0 + timedelta(minutes=1)) is False  # e.g. again on resume
    assert journal.recorded_installs("a") == {"P-1"}
    assert [p.patch_id for p in journal.store.patch_history("a")] == ["P-1"]
    assert journal.patches_reversed("a", 0, T0, None, "rolled back") == ["P-1"]
    assert journal.patches_reversed("a", 0, T0, None, "rolled back") == []  # nothing left: nothing written
    assert journal.recorded_installs("a") == {"P-1"}  # still recorded: resume never installs it again
    assert _kinds(journal).count(AuditKind.PATCH_INSTALLED) == 1
    assert _kinds(journal).count("patch_reversed") == 1


def test_waves_and_task_events_go_through_the_journal(journal: RunJournal) -> None:
    journal.start_run(_record(), {})
    journal.register_hosts({"a": 0}, T0)
    row = journal.wave_started(0, "w0", 1, False, ["a"], T0)
    journal.task_event(0, "a", Phase.DIAGNOSTICS, "probe", "ok", False, T0)
    journal.wave_finished(0, row, "completed", "", T0, halted=False)
    journal.wave_refused(1, "w1", 1, False, "halted", "budget spent", T0)
    assert [(w.wave, w.outcome) for w in journal.store.waves("run-1")] == [(0, "completed"), (1, "halted")]
    assert [t.task for t in journal.store.task_events("run-1")] == ["probe"]
    assert _kinds(journal)[-3:] == ["wave_started", "wave_finished", "wave_halted"]
    assert journal.store.host_states("run-1")["a"].state is HostState.PENDING
    assert verify(journal.audit.path, journal.store.audit_head()).ok


def test_a_baseline_is_saved_with_the_run_it_came_from(journal: RunJournal) -> None:
    journal.start_run(_record(), {})
    journal.baseline("a", {"packages": {"pkg": "1.0"}}, T0)
    saved = journal.store.latest_baseline("a")
    assert saved is not None and saved.run_id == "run-1" and saved.data == {"packages": {"pkg": "1.0"}}


def test_a_transition_is_validated_once_in_the_store_transaction_that_writes_it(
    journal: RunJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otorchestrator.models import run as run_models
    from otorchestrator.store import host_states
    from otorchestrator.store import journal as journal_module

    checks: list[tuple[Any, Any]] = []

    def counted(current: Any, to: Any) -> bool:
        checks.append((current, to))
        return run_models.can_transition(current, to)

    monkeypatch.setattr(host_states, "can_transition", counted)
    monkeypatch.setattr(journal_module, "can_transition", counted, raising=False)  # main checked here too
    journal.start_run(_record(), {})
    journal.register_hosts({"a": 0}, T0)
    checks.clear()
    journal.transition("a", 0, HostState.DIAGNOSING, now=T0, expect=[HostState.PENDING])
    assert checks == [(HostState.PENDING, HostState.DIAGNOSING)]
    ((_, event),) = [x for x in read_events(journal.audit.path) if x[1].result == "diagnosing"]
    assert event.detail["from"] == "pending"  # the audit names the state the store validated against
    with pytest.raises(StateConflict):
        journal.transition("a", 0, HostState.BACKING_UP, now=T0, expect=[HostState.PENDING])
    assert [e.result for _, e in read_events(journal.audit.path)][-1] == "diagnosing"  # nothing audited
