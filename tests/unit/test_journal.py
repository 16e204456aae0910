"""RunJournal: a transition lands in the audit trail and the store, or in neither."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import HostState, RunRecord
from otorchestrator.store.audit import AuditLog, read_events, verify
from otorchestrator.store.errors import IllegalTransition
from otorchestrator.store.journal import RunJournal
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.redact import Redactor
from otorchestrator.store.state import StateStore

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[RunJournal]:
    paths = StatePaths(tmp_path / "state").ensure()
    with StateStore(paths.db) as store:
        store.create_run(
            RunRecord(run_id="run-1", operator="alice", waveplan_hash="w", plan_hash="p", started_at=T0)
        )
        store.register_hosts("run-1", {"hmi-01": 0}, T0)
        audit = AuditLog(paths.audit, redactor=Redactor(["topsecret"]), head_store=store)
        yield RunJournal(store, audit, "run-1", "alice")


def test_transition_is_audited_then_stored(journal: RunJournal) -> None:
    journal.transition("hmi-01", 0, HostState.DIAGNOSING, now=T0, audit_detail={"why": "wave 0 started"})
    assert journal.store.host_states("run-1")["hmi-01"].state is HostState.DIAGNOSING
    ((_, event),) = list(read_events(journal.audit.path))
    assert (event.kind, event.host, event.result) == ("transition", "hmi-01", "diagnosing")
    assert event.detail["from"] == "pending" and event.detail["why"] == "wave 0 started"
    assert verify(journal.audit.path, journal.store.audit_head()).ok


def test_illegal_transition_writes_nothing(journal: RunJournal) -> None:
    with pytest.raises(IllegalTransition):
        journal.transition("hmi-01", 0, HostState.SUCCEEDED, now=T0)
    assert list(read_events(journal.audit.path)) == []
    assert len(journal.store.transitions("run-1")) == 1


def test_phase_result_is_stored_and_audited_without_secrets(journal: RunJournal) -> None:
    result = PhaseResult(
        phase=Phase.DIAGNOSTICS, host="hmi-01", ok=False, failed_task="check topsecret", message="x"
    )
    journal.phase_result(0, result, T0, T0)
    assert journal.store.phase_results("run-1")[0].result == result
    assert b"topsecret" not in journal.audit.path.read_bytes()
