"""Observers are a list (issue 12 item 1, as nornir's processors): each sees every call; one that fails is
reported (to the others and in the audit log) and never stops the run or the observers after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_backend import FakeBackend, fake_hosts, fake_inventory, make_plan, write_inventory

from otorchestrator.app import artifacts as app_artifacts
from otorchestrator.app import runs
from otorchestrator.app.run_request import RunRequest
from otorchestrator.app.session import Caller
from otorchestrator.execution.observer import NullObserver, Observers
from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.orchestrator import Orchestrator
from otorchestrator.models.run import HostState, RunRecord, RunStatus
from otorchestrator.store.audit import AuditLog, read_events
from otorchestrator.store.clock import FakeClock, SystemClock
from otorchestrator.store.state import StateStore


class Seen(NullObserver):
    def __init__(self) -> None:
        self.moves: list[tuple[str, HostState]] = []
        self.messages: list[str] = []
        self.runs: list[bool] = []

    def run_started(self, run: RunRecord, resumed: bool) -> None:
        self.runs.append(resumed)

    def host_moved(self, host: str, wave: int, before: Any, after: HostState, detail: str, at: Any) -> None:
        self.moves.append((host, after))

    def message(self, text: str) -> None:
        self.messages.append(text)


class Broken(NullObserver):
    """A live report whose sink is gone: every host move raises."""

    def host_moved(self, host: str, wave: int, before: Any, after: HostState, detail: str, at: Any) -> None:
        raise OSError("report sink closed")


def test_a_failing_observer_is_reported_and_stops_neither_the_run_nor_the_others(tmp_path: Path) -> None:
    plan = make_plan([["a"], ["b"]])
    clock = FakeClock(plan.created_at)
    first, second = Seen(), Seen()
    with StateStore(tmp_path / "state.db") as store:
        audit = AuditLog(tmp_path / "audit.jsonl", head_store=store)
        orch = Orchestrator(
            FakeBackend(fake_hosts(plan), clock), store, audit, clock, [first, Broken(), second]
        )
        summary = orch.run(
            plan, RunOptions(operator="alice", inventory=Path("i"), hosts_inventory=fake_inventory)
        )
    assert summary.run.status is RunStatus.COMPLETED
    assert {h.host: h.state for h in summary.hosts} == {"a": HostState.SUCCEEDED, "b": HostState.SUCCEEDED}
    assert first.moves == second.moves and ("b", HostState.SUCCEEDED) in second.moves  # after the broken one
    reported = "observer Broken.host_moved failed: OSError: report sink closed"
    assert first.messages.count(reported) == 1 and second.messages.count(reported) == 1  # once, not per move
    (failed,) = [e for _, e in read_events(tmp_path / "audit.jsonl") if e.kind == "observer_failed"]
    assert failed.detail["failures"] == [reported]


def test_observers_fan_out_in_order_and_a_failing_message_does_not_loop() -> None:
    class Loud(NullObserver):
        def message(self, text: str) -> None:
            raise RuntimeError("no terminal")

    seen = Seen()
    fan = Observers([Loud(), seen])
    fan.message("hello")
    fan.message("again")  # Loud fails again: reported once
    reported = "observer Loud.message failed: RuntimeError: no terminal"
    assert seen.messages == [reported, "hello", "again"] and fan.failures == [reported]
    assert len(fan) == 2 and fan[1] is seen and Observers.of(fan) is fan
    assert list(Observers.of(seen)) == [seen] and len(Observers.of(None)) == 0  # one observer, or none


def test_the_session_hands_every_observer_of_the_caller_to_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = make_plan([["a"]])
    waves = tmp_path / "waves.json"
    waves.write_text(plan.model_dump_json())
    inventory = write_inventory(plan, tmp_path / "inventory")
    backend = FakeBackend(fake_hosts(plan), FakeClock(SystemClock().now()))
    backend.seconds_per_phase = 0
    monkeypatch.setattr(app_artifacts, "default_artifact_dirs", lambda catalog, inventory: [tmp_path])
    monkeypatch.setattr(
        app_artifacts, "artifact_digests", lambda patches, dirs: {p.id: p.sha256 for p in patches}
    )
    progress, report, extra = Seen(), Seen(), Seen()
    caller = Caller(
        state_dir=tmp_path / "state",
        backend=lambda paths: backend,
        observers=[progress, report, extra],
    )
    outcome = runs.start_run(waves, RunRequest(operator="alice", inventory=inventory), caller)
    assert outcome.summary.run.status is RunStatus.COMPLETED
    assert progress.runs == report.runs == extra.runs == [False]
    assert progress.moves == report.moves == extra.moves and progress.moves[-1] == ("a", HostState.SUCCEEDED)
