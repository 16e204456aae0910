"""The orchestrator's state machine against a scripted fake backend: no Ansible, no hosts."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_backend import (
    BASE,
    T0,
    TARGET,
    FakeBackend,
    FakeHost,
    SimulatedCrash,
    fake_hosts,
    fake_inventory,
    make_plan,
    package_of,
)

from otorchestrator.execution.backend import TaskEvent
from otorchestrator.execution.options import ABORTED, HALTED, RunOptions
from otorchestrator.execution.orchestrator import Orchestrator, RunRefused
from otorchestrator.execution.summary import ExitCode, RunSummary
from otorchestrator.models.asset import RecurringWindow
from otorchestrator.models.catalog import Catalog
from otorchestrator.models.results import Phase
from otorchestrator.models.run import AuditKind, HostState, RunStatus
from otorchestrator.models.waves import WavePlan
from otorchestrator.reporting.sources import load_compliance_sources
from otorchestrator.store import audit as audit_mod
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.errors import RunLocked
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.redact import Redactor
from otorchestrator.store.state import StateStore

S = HostState


@dataclass
class Env:
    root: Path
    plan: WavePlan
    clock: FakeClock = field(default_factory=lambda: FakeClock(T0))
    hosts: dict[str, FakeHost] = field(default_factory=dict)
    script: dict[tuple[str, Phase], str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.hosts = self.hosts or fake_hosts(self.plan)
        self.backend = FakeBackend(self.hosts, self.clock, self.script)

    def open(
        self, store_cls: type[StateStore] = StateStore, **store_kw: Any
    ) -> tuple[Orchestrator, StateStore]:
        store = store_cls(self.root / "state.db", **store_kw)
        redactor = Redactor(self.secrets)
        audit = AuditLog(self.root / "audit.jsonl", redactor=redactor, head_store=store)
        return Orchestrator(self.backend, store, audit, self.clock, redactor=redactor), store

    def options(self, **kw: Any) -> RunOptions:
        kw.setdefault("forks", 1)  # one host at a time, in order: call lists and crash points are fixed
        return RunOptions(operator="alice", inventory=Path("inventory"), hosts_inventory=fake_inventory, **kw)

    def run(self, **kw: Any) -> RunSummary:
        orch, store = self.open()
        try:
            return orch.run(self.plan, self.options(**kw))
        finally:
            store.close()

    def resume(self, run_id: str, **kw: Any) -> RunSummary:
        orch, store = self.open()
        try:
            return orch.resume(run_id, self.plan, self.options(**kw))
        finally:
            store.close()

    def audit_ok(self) -> None:
        with StateStore(self.root / "state.db") as store:
            result = audit_mod.verify(self.root / "audit.jsonl", store.audit_head())
        assert result.ok, result.problems

    def audit_events(self) -> list[Any]:
        return [e for _, e in audit_mod.read_events(self.root / "audit.jsonl")]

    def phase_hosts(self, phase: Phase) -> list[tuple[str, ...]]:
        return [c.hosts for c in self.backend.calls if c.phase is phase]


def states(summary: RunSummary) -> dict[str, HostState]:
    return {h.host: h.state for h in summary.hosts}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Any]:
    def make(plan: WavePlan, script: dict[tuple[str, Phase], str] | None = None, **kw: Any) -> Env:
        return Env(tmp_path, plan, script=dict(script or {}), **kw)

    yield make


# -- the happy path and the failure paths ---------------------------------------------------------------


def test_happy_path_runs_each_host_through_its_own_chain_and_records_patches(env: Any) -> None:
    e = env(make_plan([["a"], ["b", "c"]]))
    summary = e.run()
    assert states(summary) == {"a": S.SUCCEEDED, "b": S.SUCCEEDED, "c": S.SUCCEEDED}
    assert summary.run.status is RunStatus.COMPLETED and summary.exit_code is ExitCode.OK
    chain = [Phase.DIAGNOSTICS, Phase.BACKUP, Phase.INSTALL, Phase.VERIFY]
    # one backend job per host and phase; with forks=1 one host after the other
    assert [(c.phase, c.hosts) for c in e.backend.calls] == [(p, (n,)) for n in "abc" for p in chain]
    assert len({c.run_label for c in e.backend.calls}) == len(e.backend.calls)
    assert all(h.installs == 1 and h.versions == {package_of(n): TARGET} for n, h in e.hosts.items())
    with StateStore(e.root / "state.db") as store:
        history = store.patch_history()
        assert [(p.asset, p.patch_id, p.from_version, p.to_version) for p in history] == [
            ("a", "P-a", BASE, TARGET), ("b", "P-b", BASE, TARGET), ("c", "P-c", BASE, TARGET)
        ]  # fmt: skip
        record = store.host_state(summary.run.run_id, "a")
        assert record is not None and record.backup_id == "bk-a"
        path = [t.to_state for t in store.transitions(summary.run.run_id, "a")]
        assert path == [S.PENDING, S.DIAGNOSING, S.BACKING_UP, S.INSTALLING, S.VERIFYING, S.SUCCEEDED]
    e.audit_ok()
    events = e.audit_events()
    installed = [ev for ev in events if ev.kind == AuditKind.PATCH_INSTALLED]
    assert {ev.host for ev in installed} == {"a", "b", "c"}
    assert all(ev.patch_id == f"P-{ev.host}" and ev.artifact_sha256 for ev in installed)


def test_transition_is_written_before_the_phase_starts(env: Any) -> None:
    e = env(make_plan([["a"]]))
    orch, store = e.open()
    seen: list[tuple[Phase, HostState | None]] = []
    real = e.backend.run_phase

    def spy(request: Any, on_event: Any = None, cancel: Any = None) -> Any:
        with StateStore(e.root / "state.db") as other:  # another connection sees committed state only
            run = other.latest_run()
            assert run is not None
            record = other.host_state(run.run_id, "a")
            seen.append((request.phase, record.state if record else None))
            last = [ev for ev in e.audit_events() if ev.kind == AuditKind.PHASE_STARTED][-1]
            assert last.phase is request.phase
        return real(request, on_event, cancel)

    e.backend.run_phase = spy  # type: ignore[method-assign]
    orch.run(e.plan, e.options())
    store.close()
    assert seen == [
        (Phase.DIAGNOSTICS, S.DIAGNOSING), (Phase.BACKUP, S.BACKING_UP), (Phase.INSTALL, S.INSTALLING),
        (Phase.VERIFY, S.VERIFYING),
    ]  # fmt: skip


def test_diagnostics_failure_blocks_and_never_installs(env: Any) -> None:
    e = env(make_plan([["a", "b"]], budget=0), {("b", Phase.DIAGNOSTICS): "fail"})
    summary = e.run()
    assert states(summary) == {"a": S.SUCCEEDED, "b": S.BLOCKED}  # blocked does not count by default
    assert e.hosts["b"].installs == 0
    assert all("b" not in hosts for hosts in e.phase_hosts(Phase.BACKUP) + e.phase_hosts(Phase.INSTALL))
    assert "diagnostics failed" in {h.host: h for h in summary.hosts}["b"].detail
    assert summary.exit_code is ExitCode.HOSTS_FAILED


def test_verify_failure_rolls_back_to_baseline(env: Any) -> None:
    e = env(make_plan([["a", "gw"]], budget=1), {("gw", Phase.INSTALL): "break"})
    summary = e.run()
    assert states(summary) == {"a": S.SUCCEEDED, "gw": S.ROLLED_BACK}
    assert e.hosts["gw"].versions == {package_of("gw"): BASE} and e.hosts["gw"].healthy
    assert e.phase_hosts(Phase.ROLLBACK) == [("gw",)]
    with StateStore(e.root / "state.db") as store:
        path = [t.to_state for t in store.transitions(summary.run.run_id, "gw")]
        assert path[-3:] == [S.VERIFYING, S.ROLLING_BACK, S.ROLLED_BACK]
        assert [p.asset for p in store.patch_history()] == ["a"]
    assert summary.run.status is RunStatus.COMPLETED  # within the budget


def test_install_failure_rolls_back(env: Any) -> None:
    e = env(make_plan([["a"]], budget=1), {("a", Phase.INSTALL): "partial"})
    summary = e.run()
    assert states(summary) == {"a": S.ROLLED_BACK}
    assert e.phase_hosts(Phase.VERIFY) == []
    assert e.hosts["a"].versions == {package_of("a"): BASE}


def test_backup_failure_fails_without_install_or_rollback(env: Any) -> None:
    e = env(make_plan([["a"]], budget=1), {("a", Phase.BACKUP): "fail"})
    summary = e.run()
    assert states(summary) == {"a": S.FAILED}
    assert e.phase_hosts(Phase.INSTALL) == [] and e.phase_hosts(Phase.ROLLBACK) == []


def test_rollback_failure_needs_the_operator(env: Any) -> None:
    script = {("a", Phase.INSTALL): "break", ("a", Phase.ROLLBACK): "fail"}
    summary = env(make_plan([["a"]], budget=1), script).run()
    assert states(summary) == {"a": S.ROLLBACK_FAILED}
    assert summary.exit_code is ExitCode.ATTENTION


@pytest.mark.parametrize(
    ("phase", "action", "expected"),
    [
        (Phase.DIAGNOSTICS, "unreachable", S.UNREACHABLE),
        (Phase.INSTALL, "unreachable", S.NEEDS_RECONCILE),  # outcome unknown (test_reconcile_lost.py)
        (Phase.BACKUP, "timeout", S.TIMED_OUT),
        (Phase.VERIFY, "timeout", S.NEEDS_RECONCILE),
        (Phase.DIAGNOSTICS, "noresult", S.BLOCKED),
        (Phase.INSTALL, "noresult", S.ROLLED_BACK),
    ],
)
def test_lost_hosts_are_recorded_as_such(env: Any, phase: Phase, action: str, expected: HostState) -> None:
    summary = env(make_plan([["a"]], budget=1), {("a", phase): action}).run()
    assert states(summary) == {"a": expected}


def test_backend_exception_fails_hosts_not_the_run(env: Any) -> None:
    e = env(make_plan([["a"]], budget=1))
    real = e.backend.run_phase

    def broken(request: Any, on_event: Any = None, cancel: Any = None) -> Any:
        if request.phase is Phase.VERIFY:
            raise RuntimeError("runner exploded")
        return real(request, on_event, cancel)

    e.backend.run_phase = broken  # type: ignore[method-assign]
    summary = e.run()
    assert states(summary) == {"a": S.ROLLED_BACK}
    assert "runner exploded" in [ev for ev in e.audit_events() if ev.kind == "phase_result"][-2].detail.get(
        "message", "runner exploded"
    )


# -- the failure budget ------------------------------------------------------------------------------------


def together(e: Env, phase: Phase, hosts: int) -> None:
    """Jobs of `phase` return only once `hosts` hosts are in them (one job or several): those hosts are in
    the phase at once."""
    arrived = threading.Condition()
    inside: list[str] = []
    real = e.backend.run_phase

    def run_phase(request: Any, on_event: Any = None, cancel: Any = None) -> Any:
        if request.phase is phase:
            with arrived:
                inside.extend(request.hosts)
                arrived.notify_all()
                assert arrived.wait_for(lambda: len(inside) >= hosts, timeout=30), inside
        return real(request, on_event, cancel)

    e.backend.run_phase = run_phase  # type: ignore[method-assign]


def test_budget_spent_halts_later_waves(env: Any) -> None:
    e = env(make_plan([["a", "b"], ["c"]], budget=0), {("a", Phase.INSTALL): "break"})
    together(e, Phase.INSTALL, 2)  # b is installing when a's verify fails
    summary = e.run(forks=2)
    assert states(summary) == {"a": S.ROLLED_BACK, "b": S.SUCCEEDED, "c": S.SKIPPED}
    assert summary.run.status is RunStatus.HALTED and summary.exit_code is ExitCode.HALTED
    assert "failure budget of wave wave-0 spent" in summary.run.status_detail
    c = {h.host: h for h in summary.hosts}["c"]
    assert c.detail.startswith(HALTED)
    assert all("c" not in call.hosts for call in e.backend.calls)
    assert summary.all_terminal
    # the operator acts: resume goes on with the later wave
    e.backend.run_phase = FakeBackend.run_phase.__get__(e.backend)  # type: ignore[method-assign]
    resumed = e.resume(summary.run.run_id)
    assert states(resumed) == {"a": S.ROLLED_BACK, "b": S.SUCCEEDED, "c": S.SUCCEEDED}
    assert resumed.run.status is RunStatus.COMPLETED
    e.audit_ok()


def test_budget_counting_blocked_stops_the_rest_before_backup(env: Any) -> None:
    plan = make_plan([["a", "b", "c"], ["d"]], budget=0, counts_blocked=True)
    e = env(plan, {("a", Phase.DIAGNOSTICS): "fail"})
    summary = e.run()
    assert states(summary) == {"a": S.BLOCKED, "b": S.SKIPPED, "c": S.SKIPPED, "d": S.SKIPPED}
    assert e.phase_hosts(Phase.BACKUP) == [] and all(h.installs == 0 for h in e.hosts.values())
    # one host at a time: b and c never started (with more forks they stop before their backup)
    assert {h.host: h for h in summary.hosts}["b"].detail == HALTED + "failure budget of wave wave-0 spent"


def test_budget_spent_lets_installed_hosts_finish_and_roll_back(env: Any) -> None:
    plan = make_plan([["a", "b", "c"]], budget=0)
    e = env(plan, {("a", Phase.INSTALL): "partial", ("b", Phase.INSTALL): "break"})
    together(e, Phase.INSTALL, 3)
    summary = e.run(forks=3)
    # a failed install: budget spent, but b and c were already installed: they finish verify
    assert states(summary) == {"a": S.ROLLED_BACK, "b": S.ROLLED_BACK, "c": S.SUCCEEDED}
    assert summary.run.status is RunStatus.HALTED


def test_budget_tolerates_its_allowance(env: Any) -> None:
    script = {("a", Phase.INSTALL): "break", ("b", Phase.DIAGNOSTICS): "unreachable"}
    summary = env(make_plan([["a", "b", "c"], ["d"]], budget=2), script).run()
    assert states(summary)["d"] is S.SUCCEEDED and summary.run.status is RunStatus.COMPLETED


# -- windows, approvals, dependencies ------------------------------------------------------------------


def _window_closing_in(minutes: int) -> tuple[RecurringWindow, ...]:
    start = (T0 - timedelta(minutes=60 - minutes)).time()
    return (RecurringWindow(days=("sat",), start=start, duration_minutes=60),)  # T0 is a Saturday


def test_no_host_starts_without_enough_window(env: Any) -> None:
    plan = make_plan([["a", "b"]], windows={"a": _window_closing_in(15)}, duration=10)
    e = env(plan)
    summary = e.run()
    assert states(summary) == {"a": S.SKIPPED, "b": S.SUCCEEDED}
    a = {h.host: h for h in summary.hosts}["a"]
    assert "window" in a.detail and "needs 20 min" in a.detail
    assert all("a" not in c.hosts for c in e.backend.calls)


def test_window_is_rechecked_before_install(env: Any) -> None:
    plan = make_plan([["a"]], windows={"a": _window_closing_in(21)}, duration=10)
    e = env(plan)  # 60 s per phase: after diagnostics and backup 19 min are left, 20 needed
    summary = e.run()
    assert states(summary) == {"a": S.SKIPPED}
    assert "not installed" in summary.hosts[0].detail and e.hosts["a"].installs == 0


def test_safety_host_needs_its_approval(env: Any) -> None:
    plan = make_plan([["sis", "sis2"]], critical=["sis", "sis2"], approved=["sis2"])
    e = env(plan)
    summary = e.run()
    assert states(summary) == {"sis": S.SKIPPED, "sis2": S.SUCCEEDED}
    assert "approval" in {h.host: h for h in summary.hosts}["sis"].detail


def test_waits_for_a_host_that_did_not_succeed(env: Any) -> None:
    plan = make_plan([["a"], ["b"]], budget=1, waits_for={"b": ["a"]})
    summary = env(plan, {("a", Phase.INSTALL): "break"}).run()
    assert states(summary) == {"a": S.ROLLED_BACK, "b": S.SKIPPED}
    assert "waits for a, which ended rolled_back" in summary.hosts[1].detail


def test_waits_for_inside_a_wave_runs_in_rounds(env: Any) -> None:
    plan = make_plan([["a", "b", "c"]], waits_for={"b": ["a"], "c": ["b"]})
    e = env(plan)
    summary = e.run()
    assert all(s is S.SUCCEEDED for s in states(summary).values())
    assert e.phase_hosts(Phase.INSTALL) == [("a",), ("b",), ("c",)]


# -- run-time safety checks ----------------------------------------------------------------------------


def test_modified_waveplan_is_refused(env: Any) -> None:
    plan = make_plan([["a"]])
    tampered = plan.model_copy(update={"waves": (plan.waves[0].model_copy(update={"failure_budget": 9}),)})
    e = env(tampered)
    with pytest.raises(RunRefused, match="modified after it was sealed"):
        e.run()
    assert e.backend.calls == []
    with StateStore(e.root / "state.db") as store:
        assert store.list_runs() == []
    assert [ev.kind for ev in e.audit_events()] == ["run_refused"]


def test_changed_catalog_is_refused(env: Any) -> None:
    plan = make_plan([["a"]])
    changed = Catalog(patches=(plan.patches[0].model_copy(update={"sha256": "f" * 64}),))
    e = env(plan)
    with pytest.raises(RunRefused, match="sha256 changed"):
        e.run(catalog=lambda: changed)
    assert e.backend.calls == []


def test_artifact_changed_between_waves_halts(env: Any) -> None:
    plan = make_plan([["a"], ["b"]])
    digests = {p.id: p.sha256 for p in plan.patches}
    calls = {"n": 0}

    def read() -> dict[str, str | None]:
        calls["n"] += 1
        return digests if calls["n"] <= 2 else {**digests, "P-b": "e" * 64}  # start + wave 0 are fine

    summary = env(plan).run(artifact_digests=read)
    assert states(summary) == {"a": S.SUCCEEDED, "b": S.SKIPPED}
    assert summary.run.status is RunStatus.HALTED and "P-b" in summary.run.status_detail


def test_second_run_on_the_same_store_is_refused(env: Any) -> None:
    e = env(make_plan([["a"]]))
    orch, store = e.open()
    with store.lock("run-other", "bob", T0), pytest.raises(RunLocked, match="operator bob, run run-other"):
        orch.run(e.plan, e.options())
    store.close()


# -- check mode, confirmation, abort, operator rollback --------------------------------------------------


def test_check_mode_changes_nothing(env: Any) -> None:
    e = env(make_plan([["a", "b"]]))
    summary = e.run(check_mode=True)
    assert summary.run.check_mode
    assert all(c.check_mode for c in e.backend.calls) and len(e.backend.calls) == 8
    assert all(h.installs == 0 and h.versions[package_of(n)] == BASE for n, h in e.hosts.items())
    with StateStore(e.root / "state.db") as store:
        assert store.patch_history() == []


@pytest.mark.parametrize("phase", [Phase.INSTALL, Phase.VERIFY])
def test_check_mode_failure_is_reported_not_rolled_back(env: Any, phase: Phase) -> None:
    """Nothing was installed in check mode (and the backup was not made): no rollback, the host failed."""
    e = env(make_plan([["a", "b"]], budget=1), {("b", phase): "fail"})
    summary = e.run(check_mode=True)
    assert states(summary) == {"a": S.SUCCEEDED, "b": S.FAILED}
    assert e.phase_hosts(Phase.ROLLBACK) == []
    assert "check mode, nothing to roll back" in summary.hosts[1].detail


def test_declined_confirmation_halts_before_the_next_wave(env: Any) -> None:
    e = env(make_plan([["a"], ["b"]]))
    asked: list[str] = []
    summary = e.run(confirm=lambda wave: asked.append(wave.name) is not None)
    assert asked == ["wave-1"]
    assert states(summary) == {"a": S.SUCCEEDED, "b": S.SKIPPED}
    assert summary.run.status is RunStatus.HALTED and "declined" in summary.run.status_detail


def test_live_abort_finishes_installed_hosts_and_starts_no_more(env: Any) -> None:
    e = env(make_plan([["a"], ["b"]]))
    summary = e.run(abort_requested=lambda: bool(e.hosts["a"].installs))
    assert states(summary) == {"a": S.SUCCEEDED, "b": S.SKIPPED}
    assert summary.run.status is RunStatus.ABORTED and summary.exit_code is ExitCode.ABORTED
    assert {h.host: h for h in summary.hosts}["b"].detail.startswith(ABORTED)


def test_abort_of_a_halted_run(env: Any) -> None:
    e = env(make_plan([["a"], ["b"]], budget=0), {("a", Phase.INSTALL): "break"})
    summary = e.run()
    orch, store = e.open()
    result = orch.abort(summary.run.run_id, "bob", request=lambda: None)
    assert not result.requested
    assert store.get_run(summary.run.run_id).status is RunStatus.ABORTED
    store.close()
    resumed = e.resume(summary.run.run_id)  # an aborted run is only reconciled: b stays skipped
    assert states(resumed) == {"a": S.ROLLED_BACK, "b": S.SKIPPED}
    assert e.hosts["b"].installs == 0


def test_operator_rollback_of_a_succeeded_host(env: Any) -> None:
    e = env(make_plan([["a", "b"]]))
    summary = e.run()
    orch, store = e.open()
    after = orch.rollback(summary.run.run_id, e.plan, e.options(), hosts=["a"])
    store.close()
    assert states(after) == {"a": S.ROLLED_BACK, "b": S.SUCCEEDED}
    assert e.hosts["a"].versions == {package_of("a"): BASE}
    with pytest.raises(RunRefused, match="cannot roll back"):
        orch2, store2 = e.open()
        try:
            orch2.rollback(summary.run.run_id, e.plan, e.options(), hosts=["a"])
        finally:
            store2.close()


def test_operator_rollback_reverses_the_patch_history(env: Any) -> None:
    """After a rollback the host no longer counts as patched: not for compliance, not for dependencies."""
    plan = make_plan([["a", "b"], ["c"]], waits_for={"c": ["a"]})
    e = env(plan)
    first = e.run(only_wave=0)
    assert states(first) == {"a": S.SUCCEEDED, "b": S.SUCCEEDED}
    orch, store = e.open()
    try:
        orch.rollback(first.run.run_id, e.plan, e.options(), hosts=["a"])
        assert [p.asset for p in store.patch_history()] == ["b"]  # what compliance reads
        assert [p.asset for p in store.patch_history("a", include_reversed=True)] == ["a"]  # history kept
        ((record, by_run, _),) = store.reversed_patches("a")
        assert record.patch_id == "P-a" and by_run == first.run.run_id
    finally:
        store.close()
    sources = load_compliance_sources(StatePaths(e.root), None, ["a", "b"])
    assert [p.asset for p in sources.history] == ["b"]
    reversed_events = [ev for ev in e.audit_events() if ev.kind == "patch_reversed"]
    assert [(ev.host, ev.detail["patches"]) for ev in reversed_events] == [("a", ["P-a"])]
    # c waits for a: a was rolled back, so it is not patched any more and c must not start
    second = e.run(only_wave=1)
    assert states(second) == {"c": S.SKIPPED}
    assert "waits for a, which is not patched" in second.hosts[0].detail
    e.audit_ok()


def test_dependency_patched_in_an_earlier_run_counts(env: Any) -> None:
    """The control for the test above: without the rollback, c starts."""
    e = env(make_plan([["a"], ["c"]], waits_for={"c": ["a"]}))
    e.run(only_wave=0)
    assert states(e.run(only_wave=1)) == {"c": S.SUCCEEDED}


def test_a_failed_rollback_that_reverted_the_package_reverses_the_install(env: Any) -> None:
    e = env(make_plan([["a"]]))
    first = e.run()
    real = e.backend.run_phase

    def half_rollback(request: Any, on_event: Any = None, cancel: Any = None) -> Any:
        outcome = real(request, on_event, cancel)
        if request.phase is not Phase.ROLLBACK:
            return outcome
        results = {
            h: r.model_copy(update={"ok": False, "versions_after": {package_of(h): BASE}})
            for h, r in outcome.results.items()
        }
        return outcome.model_copy(update={"results": results})

    e.backend.run_phase = half_rollback  # type: ignore[method-assign]
    orch, store = e.open()
    try:
        after = orch.rollback(first.run.run_id, e.plan, e.options(), hosts=["a"])
        assert states(after) == {"a": S.ROLLBACK_FAILED}
        assert store.patch_history() == []
    finally:
        store.close()


def test_task_results_are_stored_as_they_arrive_and_survive_a_crash(env: Any) -> None:
    canary = "CANARY-task-91ab"
    e = env(make_plan([["a", "b"]]), secrets=(canary,))
    real = e.backend.run_phase
    seen: list[int] = []

    def streaming(request: Any, on_event: Any = None, cancel: Any = None) -> Any:
        on_event(TaskEvent(host="a", phase=request.phase, task=f"uses {canary}", status="changed"))
        on_event(TaskEvent(host="b", phase=request.phase, task="skipped one", status="skipped"))
        on_event(TaskEvent(host="b", phase=request.phase, task="starts", status="started"))
        with StateStore(e.root / "state.db") as reader:  # already durable while the phase still runs
            seen.append(len(reader.task_events(request.run_label.split("-w")[0])))
        return real(request, on_event, cancel)

    e.backend.run_phase = streaming  # type: ignore[method-assign]
    e.backend.crash_on_call = 3  # kill -9 during install
    orch, store = e.open()
    with pytest.raises(SimulatedCrash):
        orch.run(e.plan, e.options(run_id="run-t", secret_vars={"pw": canary}))
    store.close()
    assert seen == [2, 5, 8]  # 2 per call before the fake's own event; "started" is not stored
    with StateStore(e.root / "state.db") as store:
        rows = store.task_events("run-t")
    install = [(r.host, r.task, r.status, r.changed) for r in rows if r.phase is Phase.INSTALL]
    assert install == [
        ("a", "uses ***REDACTED***", "ok", True),
        ("b", "skipped one", "skipped", False),
        ("a", "fake install", "ok", False),
    ]  # the crash came during a's install (one host at a time): b's chain never started
    assert {r.phase for r in rows} == {Phase.DIAGNOSTICS, Phase.BACKUP, Phase.INSTALL}
    assert all(r.wave == 0 for r in rows)
    assert canary.encode() not in (e.root / "state.db").read_bytes()


def test_waves_are_recorded_with_their_budget_and_outcome(env: Any) -> None:
    e = env(make_plan([["a", "b"], ["c"]], budget=0), {("b", Phase.INSTALL): "break"})
    summary = e.run()
    assert states(summary)["c"] is S.SKIPPED
    with StateStore(e.root / "state.db") as store:
        waves = store.waves(summary.run.run_id)
    assert [
        (w.wave, w.outcome, w.budget, w.started_at is not None, w.finished_at is not None) for w in waves
    ] == [
        (0, "halted", 0, True, True),
        (1, "halted", 0, False, False),
    ]
    assert "budget" in waves[0].detail
    kinds = [(ev.kind, ev.wave) for ev in e.audit_events() if ev.kind.startswith("wave_")]
    assert kinds == [("wave_started", 0), ("wave_halted", 0), ("wave_halted", 1)]
    events = e.audit_events()
    started = next(i for i, ev in enumerate(events) if ev.kind == "wave_started")
    first_phase = next(i for i, ev in enumerate(events) if ev.kind == "phase_started")
    assert started < first_phase  # written before the wave's first action


def test_a_completed_wave_is_recorded_finished(env: Any) -> None:
    e = env(make_plan([["a"], ["b"]]))
    summary = e.run()
    with StateStore(e.root / "state.db") as store:
        assert [(w.wave, w.outcome) for w in store.waves(summary.run.run_id)] == [
            (0, "completed"),
            (1, "completed"),
        ]
    kinds = [ev.kind for ev in e.audit_events() if ev.kind.startswith("wave_")]
    assert kinds == ["wave_started", "wave_finished", "wave_started", "wave_finished"]


def test_secrets_never_reach_store_or_audit(env: Any) -> None:
    canary = "CANARY-s3cr3t-7f1d"
    e = env(make_plan([["a"]], budget=1), {("a", Phase.INSTALL): "break"}, secrets=(canary,))
    real = e.backend.run_phase

    def leaky(request: Any, on_event: Any = None, cancel: Any = None) -> Any:
        assert request.secret_vars == {"vault_pw": canary}
        outcome = real(request, on_event, cancel)
        results = {
            h: r.model_copy(update={"message": f"task printed {canary}", "values": {"pw": canary}})
            for h, r in outcome.results.items()
        }
        return outcome.model_copy(update={"results": results})

    e.backend.run_phase = leaky  # type: ignore[method-assign]
    summary = e.run(secret_vars={"vault_pw": canary})
    assert states(summary) == {"a": S.ROLLED_BACK}
    for path in e.root.iterdir():
        assert canary.encode() not in path.read_bytes(), path
    assert all(canary not in repr(c) for c in e.backend.calls)


# -- crash and resume at every boundary ------------------------------------------------------------------

SCENARIO_WAVES = [["ok1"], ["ok2", "gw", "hist", "ews"]]
SCENARIO_SCRIPT = {
    ("gw", Phase.INSTALL): "break",  # verify fails -> rolled back
    ("hist", Phase.DIAGNOSTICS): "fail",  # blocked
    ("ews", Phase.INSTALL): "partial",  # install fails -> rolled back
}
EXPECTED = {
    "ok1": S.SUCCEEDED, "ok2": S.SUCCEEDED, "gw": S.ROLLED_BACK, "hist": S.BLOCKED, "ews": S.ROLLED_BACK,
}  # fmt: skip


class CrashingStore(StateStore):
    """Crashes at the n-th host transition: before it is written (the audit has the intent) or after."""

    def __init__(self, path: Path, crash_at: int, after: bool) -> None:
        super().__init__(path)
        self.crash_at, self.after, self.count = crash_at, after, 0

    def _step(self, write: Any) -> Any:
        self.count += 1
        if self.count == self.crash_at and not self.after:
            raise SimulatedCrash(f"before write {self.count}")
        written = write()
        if self.count == self.crash_at and self.after:
            raise SimulatedCrash(f"after write {self.count}")
        return written

    def transition(self, *args: Any, **kw: Any) -> Any:
        return self._step(lambda: super(CrashingStore, self).transition(*args, **kw))

    def register_hosts(self, *args: Any, **kw: Any) -> Any:
        return self._step(lambda: super(CrashingStore, self).register_hosts(*args, **kw))


def _scenario(env: Any) -> Env:
    plan = make_plan(SCENARIO_WAVES, budget=3)
    return env(plan, SCENARIO_SCRIPT)  # type: ignore[no-any-return]


def _count_transitions(env: Any) -> tuple[int, int]:
    e = _scenario(env)
    summary = e.run()
    assert states(summary) == EXPECTED
    with StateStore(e.root / "state.db") as store:
        writes = len(store.transitions(summary.run.run_id)) - len(EXPECTED) + 1  # registration: one write
        return writes, len(e.backend.calls)


def _crash_then_resume(e: Env, crash: Any) -> RunSummary:
    orch, store = crash()
    with pytest.raises(SimulatedCrash):
        orch.run(e.plan, e.options(run_id="run-crash"))
    store.close()
    e.backend.crash_on_call = None
    return e.resume("run-crash")


def _assert_recovered(e: Env, summary: RunSummary) -> None:
    assert summary.all_terminal, states(summary)
    assert len({h.host for h in summary.hosts}) == len(EXPECTED)
    assert states(summary) == EXPECTED
    for name, host in e.hosts.items():
        assert host.installs <= 1, f"{name} installed {host.installs} times"
        expected = TARGET if EXPECTED[name] is S.SUCCEEDED else BASE
        assert host.versions[package_of(name)] == expected, name
    installed = [ev.host for ev in e.audit_events() if ev.kind == AuditKind.PATCH_INSTALLED]
    assert sorted(installed) == ["ok1", "ok2"]  # counted from the audit log: once each
    e.audit_ok()


def test_crash_at_every_transition_boundary_then_resume(tmp_path: Path, env: Any) -> None:
    total, _ = _count_transitions(env)
    for after in (False, True):
        for n in range(1, total + 1):
            root = tmp_path / f"crash-{n}-{after}"
            root.mkdir()
            e = Env(root, make_plan(SCENARIO_WAVES, budget=3), script=dict(SCENARIO_SCRIPT))
            summary = _crash_then_resume(
                e, lambda e=e, n=n, after=after: e.open(CrashingStore, crash_at=n, after=after)
            )
            _assert_recovered(e, summary)


def test_crash_inside_every_phase_call_then_resume(tmp_path: Path, env: Any) -> None:
    _, calls = _count_transitions(env)
    for n in range(1, calls + 1):
        root = tmp_path / f"call-{n}"
        root.mkdir()
        e = Env(root, make_plan(SCENARIO_WAVES, budget=3), script=dict(SCENARIO_SCRIPT))
        e.backend.crash_on_call = n  # the phase's effects happened; its results were never recorded

        def crash(e: Env = e) -> tuple[Orchestrator, StateStore]:
            return e.open()

        summary = _crash_then_resume(e, crash)
        _assert_recovered(e, summary)


def test_crash_during_resume_then_resume_again(tmp_path: Path) -> None:
    for first, second in [(12, 3), (20, 5), (22, 1), (8, 8)]:
        root = tmp_path / f"double-{first}-{second}"
        root.mkdir()
        e = Env(root, make_plan(SCENARIO_WAVES, budget=3), script=dict(SCENARIO_SCRIPT))
        orch, store = e.open(CrashingStore, crash_at=first, after=True)
        with pytest.raises(SimulatedCrash):
            orch.run(e.plan, e.options(run_id="run-crash"))
        store.close()
        orch, store = e.open(CrashingStore, crash_at=second, after=True)
        with pytest.raises(SimulatedCrash):
            orch.resume("run-crash", e.plan, e.options())
        store.close()
        _assert_recovered(e, e.resume("run-crash"))


def test_resume_refuses_a_different_waveplan(env: Any) -> None:
    e = env(make_plan([["a"]], budget=0), {("a", Phase.INSTALL): "break"})
    summary = e.run()
    other = make_plan([["a"]], budget=1)
    orch, store = e.open()
    with pytest.raises(RunRefused, match="the run started with"):
        orch.resume(summary.run.run_id, other, e.options())
    store.close()


def _unused(_: Sequence[str]) -> None:  # keep the helper imports honest
    replace(RunOptions(operator="x", inventory=Path()))


def test_too_little_free_space_is_refused_before_any_host(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from otorchestrator.execution import preflight

    real = shutil.disk_usage

    def nearly_full(path: Any) -> Any:
        usage = real(path)
        return usage._replace(free=10 * preflight.MIB)

    monkeypatch.setattr(preflight.shutil, "disk_usage", nearly_full)
    e = env(make_plan([["a", "b"]]))
    with pytest.raises(RunRefused, match=r"free_space: state directory .*: 10 MiB free on .*, needs 64 MiB"):
        e.run()
    assert e.backend.calls == []
    with StateStore(e.root / "state.db") as store:
        assert store.list_runs() == []


def test_crash_inside_every_phase_call_of_flowing_hosts_then_resume(tmp_path: Path, env: Any) -> None:
    """Hosts in their chains at once (forks=4, jobs on worker threads): a crash in any call (the other
    jobs still running end as orphans would) leaves what resume finishes: one install at most, one
    terminal state per host."""
    e = _scenario(env)
    assert states(e.run(forks=4)) == EXPECTED
    calls = len(e.backend.calls)  # hosts ready together go as one job: fewer calls than with forks=1
    for n in range(1, calls + 1):
        root = tmp_path / f"flow-{n}"
        root.mkdir()
        e = Env(root, make_plan(SCENARIO_WAVES, budget=3), script=dict(SCENARIO_SCRIPT))
        e.backend.crash_on_call = n
        orch, store = e.open()
        with pytest.raises(SimulatedCrash):
            orch.run(e.plan, e.options(run_id="run-crash", forks=4))
        store.close()
        e.backend.crash_on_call = None
        _assert_recovered(e, e.resume("run-crash", forks=4))


def test_the_forks_of_a_run_and_of_its_resume_are_audited(env: Any) -> None:
    e = env(make_plan([["a"], ["b"]]))
    halted = e.run(run_id="run-f", forks=3, confirm=lambda wave: wave.index == 0)
    assert halted.run.status is RunStatus.HALTED  # wave 1 declined: resume goes on with it
    e.resume("run-f", forks=7)
    started = [ev for ev in e.audit_events() if ev.kind == AuditKind.RUN_STARTED]
    resumed = [ev for ev in e.audit_events() if ev.kind == AuditKind.RUN_RESUMED]
    assert [ev.detail["forks"] for ev in started] == [3] and [ev.detail["forks"] for ev in resumed] == [7]
