"""Hosts flow in micro-batches (execution/hostchain.py): hosts ready for the same phase at the same moment go
as one backend job; a host in another job never waits for it; every host's transition of a job is
committed before the job starts; each host's phase time comes from its own task events."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fake_backend import T0, TARGET, FakeBackend, fake_hosts, fake_inventory, make_plan, package_of

from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.orchestrator import Orchestrator
from otorchestrator.execution.summary import RunSummary
from otorchestrator.models.results import Phase
from otorchestrator.models.run import HostState
from otorchestrator.models.waves import WavePlan
from otorchestrator.store import audit as audit_mod
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.redact import Redactor
from otorchestrator.store.state import StateStore

S = HostState
CHAIN = [Phase.DIAGNOSTICS, Phase.BACKUP, Phase.INSTALL, Phase.VERIFY]
ENTERING = {
    Phase.DIAGNOSTICS: S.DIAGNOSING, Phase.BACKUP: S.BACKING_UP, Phase.INSTALL: S.INSTALLING,
    Phase.VERIFY: S.VERIFYING, Phase.ROLLBACK: S.ROLLING_BACK,
}  # fmt: skip
RUN = "run-flow"


@dataclass
class Flow:
    root: Path
    plan: WavePlan
    script: dict[tuple[str, Phase], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.clock = FakeClock(T0)
        self.hosts = fake_hosts(self.plan)
        self.backend = FakeBackend(self.hosts, self.clock, self.script)

    def run(self, forks: int) -> RunSummary:
        store = StateStore(self.root / "state.db")
        redactor = Redactor(())
        audit = AuditLog(self.root / "audit.jsonl", redactor=redactor, head_store=store)
        options = RunOptions(
            operator="alice",
            inventory=Path("inventory"),
            hosts_inventory=fake_inventory,
            forks=forks,
            run_id=RUN,
        )
        orch = Orchestrator(self.backend, store, audit, self.clock, redactor=redactor)
        try:
            return orch.run(self.plan, options)
        finally:
            store.close()

    def wrap(self, before: Any) -> None:
        """Call `before(request)` on the job's thread before each backend call."""
        real = self.backend.run_phase

        def run_phase(request: Any, on_event: Any = None, cancel: Any = None) -> Any:
            before(request)
            return real(request, on_event, cancel)

        self.backend.run_phase = run_phase  # type: ignore[method-assign]

    def jobs(self, phase: Phase) -> list[tuple[str, ...]]:
        return [c.hosts for c in self.backend.calls if c.phase is phase]

    def audit_ok(self) -> None:
        with StateStore(self.root / "state.db") as store:
            result = audit_mod.verify(self.root / "audit.jsonl", store.audit_head())
        assert result.ok, result.problems


def states(summary: RunSummary) -> dict[str, HostState]:
    return {h.host: h.state for h in summary.hosts}


def test_hosts_ready_together_go_as_one_job_per_phase(tmp_path: Path) -> None:
    f = Flow(tmp_path, make_plan([["a", "b", "c", "d"]]))
    summary = f.run(forks=4)
    assert states(summary) == dict.fromkeys("abcd", S.SUCCEEDED)
    # 4 ansible-playbook starts for the wave instead of 16
    assert [(c.phase, c.hosts) for c in f.backend.calls] == [(p, ("a", "b", "c", "d")) for p in CHAIN]
    assert len({c.run_label for c in f.backend.calls}) == len(f.backend.calls)
    assert all(h.installs == 1 and h.versions == {package_of(n): TARGET} for n, h in f.hosts.items())
    f.audit_ok()


def test_a_job_takes_as_many_forks_as_hosts(tmp_path: Path) -> None:
    f = Flow(tmp_path, make_plan([["a", "b", "c"]]))
    summary = f.run(forks=2)
    assert states(summary) == dict.fromkeys("abc", S.SUCCEEDED)
    # a and b hold both forks through their chain; c starts when they are done
    assert f.jobs(Phase.DIAGNOSTICS) == [("a", "b"), ("c",)]
    assert f.jobs(Phase.VERIFY) == [("a", "b"), ("c",)]


def test_a_host_in_another_job_never_waits_for_a_slow_one(tmp_path: Path) -> None:
    """`bad` and `slow` start in one job; `bad` is blocked, which frees a fork for `fast`; `slow`'s backup
    then takes until `fast` is verified: `fast`, in jobs of its own, never waits for it."""
    f = Flow(tmp_path, make_plan([["bad", "slow", "fast"]]), {("bad", Phase.DIAGNOSTICS): "fail"})
    fast_verifying = threading.Event()

    def before(request: Any) -> None:
        if "fast" in request.hosts and request.phase is Phase.VERIFY:
            fast_verifying.set()
        if "slow" in request.hosts and request.phase is Phase.BACKUP:
            assert fast_verifying.wait(timeout=30), "fast waited for slow"

    f.wrap(before)
    summary = f.run(forks=2)
    assert states(summary) == {"bad": S.BLOCKED, "slow": S.SUCCEEDED, "fast": S.SUCCEEDED}
    assert f.jobs(Phase.DIAGNOSTICS) == [("bad", "slow"), ("fast",)]
    assert sorted(f.jobs(Phase.BACKUP)) == [("fast",), ("slow",)]


def test_every_host_of_a_job_is_committed_in_its_phase_before_the_job(tmp_path: Path) -> None:
    script = {("b", Phase.INSTALL): "break", ("c", Phase.INSTALL): "partial"}
    f = Flow(tmp_path, make_plan([["a", "b", "c", "d"]], budget=2), script)
    seen: list[tuple[str, Phase, HostState | None]] = []

    def before(request: Any) -> None:
        with StateStore(tmp_path / "state.db") as other:  # committed state only
            for host in request.hosts:
                record = other.host_state(RUN, host)
                seen.append((host, request.phase, record.state if record else None))

    f.wrap(before)
    summary = f.run(forks=4)
    assert states(summary) == {"a": S.SUCCEEDED, "b": S.ROLLED_BACK, "c": S.ROLLED_BACK, "d": S.SUCCEEDED}
    assert all(state is ENTERING[phase] for _, phase, state in seen), seen
    assert f.jobs(Phase.INSTALL) == [("a", "b", "c", "d")]
    assert f.jobs(Phase.VERIFY) == [("a", "b", "d")]  # c's install failed: it rolls back instead
    assert sorted(f.jobs(Phase.ROLLBACK)) == [("b",), ("c",)]  # one backup id per rollback job
    assert len(seen) == 4 * 3 + 3 + 2
    f.audit_ok()


def test_each_host_of_a_job_is_timed_by_its_own_task_events(tmp_path: Path) -> None:
    f = Flow(tmp_path, make_plan([["a", "b"]]))
    f.backend.seconds_per_host = 10.0  # in each job: 60 s, then a for 10 s, then b for 10 s
    f.run(forks=2)
    with StateStore(tmp_path / "state.db") as store:
        diagnostics = store.phase_results(RUN, phase=Phase.DIAGNOSTICS)
    times = {r.result.host: (r.started_at - T0, r.finished_at - T0) for r in diagnostics}
    s = timedelta(seconds=1)
    assert times == {"a": (60 * s, 70 * s), "b": (70 * s, 80 * s)}  # the job's: (0 s, 80 s)


def test_a_backend_that_waits_for_every_zone_gets_jobs_of_one_zone(tmp_path: Path) -> None:
    """The nodes backend returns a job when every zone's share is done: a job of two zones would let a
    slow node hold the other zone's hosts."""
    f = Flow(tmp_path, _zoned(make_plan([["a1", "b1", "a2"]]), {"a1": "za", "a2": "za", "b1": "zb"}))
    f.backend.one_zone_per_job = True  # type: ignore[attr-defined]
    summary = f.run(forks=3)
    assert states(summary) == dict.fromkeys(["a1", "b1", "a2"], S.SUCCEEDED)
    for phase in CHAIN:
        assert sorted(f.jobs(phase)) == [("a1", "a2"), ("b1",)], phase


def _zoned(plan: WavePlan, zones: dict[str, str]) -> WavePlan:
    waves = tuple(
        w.model_copy(update={"hosts": tuple(h.model_copy(update={"zone": zones[h.name]}) for h in w.hosts)})
        for w in plan.waves
    )
    return plan.model_copy(update={"waves": waves}).sealed()


def test_a_slow_zone_first_in_the_wave_does_not_take_every_fork(tmp_path: Path) -> None:
    """A host keeps its fork through its chain: with forks=2 and the slow zone's two hosts first in the
    wave, wave order alone would give both forks to the slow zone and the other zone's host would wait for
    their whole chains. Each zone gets its share of the forks while another zone has a ready host."""
    plan = _zoned(make_plan([["s1", "s2", "d1"]]), {"s1": "slow", "s2": "slow", "d1": "fast"})
    f = Flow(tmp_path, plan)
    f.backend.one_zone_per_job = True  # type: ignore[attr-defined]
    fast_verified = threading.Event()

    def before(request: Any) -> None:
        if request.hosts == ("d1",) and request.phase is Phase.VERIFY:
            fast_verified.set()
        if "s1" in request.hosts and request.phase is Phase.DIAGNOSTICS:
            assert fast_verified.wait(timeout=10), "the fast zone's host waited for the slow zone's forks"

    f.wrap(before)
    summary = f.run(forks=2)
    assert states(summary) == dict.fromkeys(["s1", "s2", "d1"], S.SUCCEEDED)
    assert sorted(f.jobs(Phase.DIAGNOSTICS)) == [("d1",), ("s1",), ("s2",)]  # s1 and d1 first, apart


def test_forks_left_after_the_zones_shares_go_to_a_zone_that_still_waits(tmp_path: Path) -> None:
    """forks=3, two zones: a share of 1 each, and the third fork is not left idle."""
    plan = _zoned(make_plan([["a1", "a2", "a3", "b1"]]), {"a1": "za", "a2": "za", "a3": "za", "b1": "zb"})
    f = Flow(tmp_path, plan)
    f.backend.one_zone_per_job = True  # type: ignore[attr-defined]
    summary = f.run(forks=3)
    assert states(summary) == dict.fromkeys(["a1", "a2", "a3", "b1"], S.SUCCEEDED)
    assert f.jobs(Phase.DIAGNOSTICS) == [("a1", "a2"), ("b1",), ("a3",)]
