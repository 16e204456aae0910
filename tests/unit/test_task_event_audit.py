"""Task events are audited without one audit record per task (issue 12 item 1): each phase-result audit
record carries the count and digest of its host's task events of the run as stored, and `otorch audit
verify` recomputes them from state.db: one edited, deleted or added event fails the check, naming the host
and the job; events stored before a crash are covered by the host's first phase result after the resume."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_backend import T0, FakeBackend, SimulatedCrash, fake_hosts, fake_inventory, make_plan

from otorchestrator.cli.audit import audit
from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.orchestrator import Orchestrator
from otorchestrator.models.results import Phase
from otorchestrator.models.run import AuditKind, HostState
from otorchestrator.models.waves import WavePlan
from otorchestrator.store.audit import AuditLog, read_events
from otorchestrator.store.audit_records import task_events_digest
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.crosscheck import CrossCheck, cross_check
from otorchestrator.store.state import StateStore

SCRIPT = {("b", Phase.VERIFY): "fail"}  # b is rolled back: a rollback job among its events


class Site:
    def __init__(self, root: Path, plan: WavePlan, script: dict[tuple[str, Phase], str]) -> None:
        self.root, self.plan = root, plan
        self.clock = FakeClock(T0)
        self.backend = FakeBackend(fake_hosts(plan), self.clock, dict(script))

    def call(self, what: str, store: StateStore) -> Any:
        log = AuditLog(self.root / "audit.jsonl", head_store=store)
        orch = Orchestrator(self.backend, store, log, self.clock)
        options = RunOptions(
            operator="alice", inventory=Path("inv"), hosts_inventory=fake_inventory, run_id="run-1", forks=1
        )
        try:
            return orch.run(self.plan, options) if what == "run" else orch.resume("run-1", self.plan, options)
        finally:
            store.close()

    def check(self) -> CrossCheck:
        with StateStore(self.root / "state.db") as store:
            return cross_check([e for _, e in read_events(self.root / "audit.jsonl")], store)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    s = Site(tmp_path, make_plan([["a", "b", "c"]], budget=2), SCRIPT)
    s.call("run", StateStore(tmp_path / "state.db"))
    return s


def verify(root: Path) -> Any:
    return CliRunner().invoke(audit, ["verify", "--state-dir", str(root)])


def sql(root: Path, statement: str, *params: Any) -> list[Any]:
    with sqlite3.connect(root / "state.db") as conn:
        return list(conn.execute(statement, params))


def event_id(root: Path, host: str, phase: Phase) -> int:
    ((row,),) = sql(root, "SELECT id FROM task_events WHERE host = ? AND phase = ?", host, phase.value)
    return int(row)


def test_each_phase_result_record_carries_the_digest_of_its_hosts_task_events_so_far(site: Site) -> None:
    records = [e for _, e in read_events(site.root / "audit.jsonl") if e.kind == AuditKind.PHASE_RESULT]
    with StateStore(site.root / "state.db") as store:
        stored = {h: store.task_events("run-1", h) for h in "abc"}
    assert [(e.host, e.phase) for e in records if e.host == "b"] == [
        ("b", Phase.DIAGNOSTICS), ("b", Phase.BACKUP), ("b", Phase.INSTALL), ("b", Phase.VERIFY),
        ("b", Phase.ROLLBACK),
    ]  # fmt: skip
    for host, events in stored.items():
        digests = [e.detail["task_events"] for e in records if e.host == host]
        assert [d["count"] for d in digests] == list(range(1, len(events) + 1))  # one fake event per job
        assert digests == [task_events_digest(events[:n]) for n in range(1, len(events) + 1)]
        assert all(d["digest"].startswith("jcs-sha256:") for d in digests)
    assert not [e for _, e in read_events(site.root / "audit.jsonl") if "task" in e.kind]  # none per task


def test_untouched_task_events_pass(site: Site) -> None:
    result = verify(site.root)
    assert result.exit_code == 0, result.output
    assert not [n for n in site.check().notes if "task event" in n]


def test_an_edited_task_event_fails_verify_naming_its_host_and_job(site: Site) -> None:
    sql(site.root, "UPDATE task_events SET status = 'ok', changed = 1 WHERE id = ?",
        event_id(site.root, "b", Phase.INSTALL))  # fmt: skip
    result = verify(site.root)
    assert result.exit_code != 0, result.output
    assert "run run-1 host b: task events of its install job (events 3..3 of the host" in result.output
    assert "a task event was edited, added or deleted in the store (2 later digest(s)" in result.output
    assert "host a: task events" not in result.output and "host c: task events" not in result.output


def test_a_deleted_task_event_fails_verify(site: Site) -> None:
    sql(site.root, "DELETE FROM task_events WHERE id = ?", event_id(site.root, "a", Phase.BACKUP))
    result = verify(site.root)
    assert result.exit_code != 0
    assert "host a: task events of its backup job (events 2..2 of the host, 3 stored)" in result.output


def test_a_task_event_added_after_a_finished_run_fails_verify(site: Site) -> None:
    sql(site.root, "INSERT INTO task_events (run_id, wave, host, phase, task, status, changed, at)"
        " VALUES ('run-1', 0, 'c', 'install', 'fake install', 'ok', 1, ?)", T0.isoformat())  # fmt: skip
    result = verify(site.root)
    assert result.exit_code != 0
    assert (
        "store: store: run run-1 host c: 1 task event(s) stored after the host's last audited "
        "phase result (events 5..5: install 'fake install' ok): added"
    ) in result.output


def test_a_task_event_moved_to_another_host_fails_both(site: Site) -> None:
    """A row moved from a's events to c's: deleted from one host's digest, added inside the other's."""
    sql(site.root, "UPDATE task_events SET host = 'c' WHERE id = ?", event_id(site.root, "a", Phase.VERIFY))
    problems = [m.describe() for m in site.check().problems]
    assert any("host a: task events of its verify job" in p for p in problems), problems
    assert any(p.startswith("seq") and "host c: task events" in p for p in problems), problems


# -- crashes: events stored before the crash and after ------------------------------------------------


class CrashAt(StateStore):
    """kill -9 at the n-th host transition, before or after its write."""

    def __init__(self, path: Path, n: int, after: bool) -> None:
        super().__init__(path)
        self.n, self.after, self.count = n, after, 0

    def transition(self, *args: Any, **kw: Any) -> Any:
        self.count += 1
        if self.count == self.n and not self.after:
            raise SimulatedCrash("before")
        written = super().transition(*args, **kw)
        if self.count == self.n and self.after:
            raise SimulatedCrash("after")
        return written


SWEEP_WAVES = [["ok1"], ["gw", "ews"]]
SWEEP_SCRIPT = {("gw", Phase.INSTALL): "break", ("ews", Phase.INSTALL): "partial"}


def _sweep(tmp_path: Path) -> Iterator[tuple[str, Site]]:
    """A crashed run resumed, at every transition (before and after its write) and inside every phase
    call (its events stored, its results never recorded)."""
    plan = make_plan(SWEEP_WAVES, budget=3)
    clean = Site(tmp_path / "clean", plan, SWEEP_SCRIPT)
    clean.root.mkdir()
    clean.call("run", StateStore(clean.root / "state.db"))
    with StateStore(clean.root / "state.db") as store:
        transitions = len(store.transitions("run-1")) - len(fake_hosts(plan))  # registration: not counted
    calls = len(clean.backend.calls)
    points = [("transition", n, after) for after in (False, True) for n in range(1, transitions + 1)]
    points += [("call", n, False) for n in range(1, calls + 1)]
    for kind, n, after in points:
        name = f"{kind}-{n}-{after}"
        site = Site(tmp_path / name, plan, SWEEP_SCRIPT)
        site.root.mkdir()
        if kind == "call":
            site.backend.crash_on_call = n
            store: StateStore = StateStore(site.root / "state.db")
        else:
            store = CrashAt(site.root / "state.db", n, after)
        with pytest.raises(SimulatedCrash):
            site.call("run", store)
        site.backend.crash_on_call = None
        yield name, site


def test_task_events_stored_before_a_crash_are_noted_then_covered_after_the_resume(tmp_path: Path) -> None:
    covered_across = 0
    for name, site in _sweep(tmp_path):
        crashed = site.check()
        assert crashed.ok, (name, crashed.problems)  # stored, not yet audited: notes at most
        with StateStore(site.root / "state.db") as store:
            before = {h: len(store.task_events("run-1", h)) for h in ("ok1", "gw", "ews")}
        summary = site.call("resume", StateStore(site.root / "state.db"))
        assert all(h.state.terminal for h in summary.hosts), name
        after = site.check()
        assert after.ok, (name, after.problems)
        assert not [n for n in after.notes if "task event" in n], (name, after.notes)
        records = [e for _, e in read_events(site.root / "audit.jsonl") if e.kind == AuditKind.PHASE_RESULT]
        with StateStore(site.root / "state.db") as store:
            for host, n in before.items():
                events = store.task_events("run-1", host)
                last = [e.detail["task_events"] for e in records if e.host == host][-1]
                assert last == task_events_digest(events), (name, host)  # every event covered at the end
                covered_across += n > 0 and any(
                    e.detail["task_events"]["count"] > n and e.seq > _resumed_at(site)
                    for e in records
                    if e.host == host
                )
        assert summary.run.status.final or summary.run.status.value == "halted", name
    assert covered_across  # some crash left events that a phase result after the resume covered


def _resumed_at(site: Site) -> int:
    return next(e.seq for _, e in read_events(site.root / "audit.jsonl") if e.kind == AuditKind.RUN_RESUMED)


def test_events_of_a_crashed_job_are_a_note_until_a_phase_result_covers_them(tmp_path: Path) -> None:
    site = Site(tmp_path, make_plan([["a"]], budget=0), {})
    site.backend.crash_on_call = 3  # install's event stored, its result never recorded
    with pytest.raises(SimulatedCrash):
        site.call("run", StateStore(tmp_path / "state.db"))
    check = site.check()
    assert check.ok, check.problems
    (note,) = [n for n in check.notes if "task event" in n]
    assert "run run-1 host a: 1 task event(s) stored after the host's last audited phase result" in note
    assert "(events 3..3: install 'fake install' ok) are not covered by the audit yet" in note
    site.backend.crash_on_call = None
    summary = site.call("resume", StateStore(tmp_path / "state.db"))
    assert summary.hosts[0].state is HostState.SUCCEEDED
    check = site.check()
    assert check.ok and not [n for n in check.notes if "task event" in n], (check.problems, check.notes)
    sql(tmp_path, "UPDATE task_events SET task = 'edited' WHERE id = 3")  # the crashed job's event
    assert "host a: task events of its " in verify(tmp_path).output


def test_a_run_audited_before_digests_is_a_note_not_a_problem(site: Site) -> None:
    """A log written before phase results carried digests: its task events cannot be checked."""
    path = site.root / "audit.jsonl"
    with StateStore(site.root / "state.db") as store:
        store.record_task_event("run-1", 0, "a", Phase.VERIFY, "later", "ok", False, T0)
        crossed = cross_check(
            [e.model_copy(update={"detail": {k: v for k, v in e.detail.items() if k != "task_events"}})
             for _, e in read_events(path)],
            store,
        )  # fmt: skip
    assert crossed.ok, crossed.problems
    assert any("its phase results carry no task-event digest" in n for n in crossed.notes)
