"""Bake time between waves (policy `soak`) against the scripted fake backend and a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_backend import FakeBackend, FakeHost, SimulatedCrash, fake_hosts, fake_inventory, make_plan

from otorchestrator.execution.options import HALTED, RunOptions
from otorchestrator.execution.orchestrator import Orchestrator
from otorchestrator.execution.soak import soak_plan
from otorchestrator.execution.summary import ExitCode, RunSummary
from otorchestrator.models.asset import Role
from otorchestrator.models.policy import SoakPolicy
from otorchestrator.models.results import Phase
from otorchestrator.models.run import HostState, RunStatus
from otorchestrator.models.waves import WavePlan
from otorchestrator.store import audit as audit_mod
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.state import StateStore

S = HostState


def _with_soak(plan: WavePlan, policy: SoakPolicy) -> WavePlan:
    return plan.model_copy(
        update={"policy": plan.policy.model_copy(update={"soak": policy}), "content_hash": ""}
    ).sealed()


class Lab:
    def __init__(self, root: Path, plan: WavePlan) -> None:
        self.root, self.plan = root, plan
        self.clock = FakeClock(plan.created_at)
        self.hosts: dict[str, FakeHost] = fake_hosts(plan)
        self.backend = FakeBackend(self.hosts, self.clock)
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], None] = lambda n: None

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.tick(seconds)
        self.on_sleep(len(self.sleeps))

    def _call(self, what: str, **kw: Any) -> RunSummary:
        store = StateStore(self.root / "state.db")
        audit = AuditLog(self.root / "audit.jsonl", head_store=store)
        orch = Orchestrator(self.backend, store, audit, self.clock)
        options = RunOptions(
            operator="alice",
            inventory=Path("inventory"),
            hosts_inventory=fake_inventory,
            sleep=self.sleep,
            **kw,
        )
        try:
            if what == "run":
                return orch.run(self.plan, options)
            return orch.resume(kw.pop("run_id", None) or store.latest_run().run_id, self.plan, options)  # type: ignore[union-attr]
        finally:
            store.close()

    def run(self, **kw: Any) -> RunSummary:
        return self._call("run", **kw)

    def resume(self) -> RunSummary:
        return self._call("resume")

    def events(self, kind: str) -> list[Any]:
        return [e for _, e in audit_mod.read_events(self.root / "audit.jsonl") if e.kind == kind]

    def verify_calls(self) -> list[tuple[str, ...]]:
        return [c.hosts for c in self.backend.calls if c.phase is Phase.VERIFY]


def states(summary: RunSummary) -> dict[str, HostState]:
    return {h.host: h.state for h in summary.hosts}


def test_a_passing_soak_verifies_again_on_the_interval_then_the_next_wave_starts(tmp_path: Path) -> None:
    policy = SoakPolicy(minutes=5, interval_seconds=60)
    lab = Lab(tmp_path, _with_soak(make_plan([["a", "b"], ["c"]]), policy))
    summary = lab.run()
    assert states(summary) == {"a": S.SUCCEEDED, "b": S.SUCCEEDED, "c": S.SUCCEEDED}
    # wave 0: its own verify, then the soak's rounds until 5 minutes passed (each fake phase takes 60 s too);
    # wave 1 (c) soaks too: every wave has the same policy
    # the hosts' own verify (one job: they were ready together), then the soak's rounds over the wave
    assert lab.verify_calls()[0] == ("a", "b") and lab.verify_calls().count(("a", "b")) >= 4
    assert ("c",) in lab.verify_calls()
    checks = [e for e in lab.events("soak_check") if e.wave == 0]
    assert checks and all(e.result == "ok" for e in checks)
    assert checks[-1].detail["minute"] >= 4  # the last round close to the end of the 5 minutes
    finished = [e for e in lab.events("soak_finished") if e.wave == 0]
    assert [e.result for e in finished] == ["ok"]
    assert all(s <= 60 for s in lab.sleeps)


def test_a_host_that_breaks_during_the_soak_is_rolled_back_and_later_waves_halt(tmp_path: Path) -> None:
    policy = SoakPolicy(minutes=10, interval_seconds=60)
    lab = Lab(tmp_path, _with_soak(make_plan([["a", "b"], ["c"]]), policy))

    def break_b(n: int) -> None:
        if n == 2:
            lab.hosts["b"].healthy = False  # its service dies after it was verified

    lab.on_sleep = break_b
    summary = lab.run()
    assert states(summary) == {"a": S.SUCCEEDED, "b": S.ROLLED_BACK, "c": S.SKIPPED}
    b = next(h for h in summary.hosts if h.host == "b")
    assert b.detail == "rolled back to the backup"
    moved = [e for _, e in audit_mod.read_events(tmp_path / "audit.jsonl") if e.host == "b"]
    reasons = [e.detail.get("message", "") for e in moved if e.result == "rolling_back"]
    assert reasons and reasons[0].startswith("soak check failed at +") and "(round 2)" in reasons[0]
    assert lab.hosts["b"].rollbacks == 1 and lab.hosts["b"].versions == {"pkg-b": "1.0.0"}
    c = next(h for h in summary.hosts if h.host == "c")
    assert c.detail.startswith(HALTED) and "soak of wave wave-0 failed on b" in c.detail
    assert summary.run.status is RunStatus.HALTED and summary.exit_code is ExitCode.HALTED
    finished = lab.events("soak_finished")
    assert [(e.wave, e.result) for e in finished] == [(0, "failed")]
    # after the failure, only a soaks on (b is no longer checked)
    assert lab.verify_calls()[-1] == ("a",)


def test_a_run_killed_during_the_soak_soaks_again_on_resume_before_the_next_wave(tmp_path: Path) -> None:
    lab = Lab(tmp_path, _with_soak(make_plan([["a"], ["b"]]), SoakPolicy(minutes=3, interval_seconds=60)))
    lab.backend.crash_on_call = 5  # diagnostics, backup, install, verify, then the first soak round
    with pytest.raises(SimulatedCrash):
        lab.run()
    lab.backend.crash_on_call = None
    summary = lab.resume()
    assert states(summary) == {"a": S.SUCCEEDED, "b": S.SUCCEEDED}
    started = [e.wave for e in lab.events("soak_started")]
    assert started[:2] == [0, 0]  # wave 0 soaked again before wave 1 started
    assert next((e.wave, e.result) for e in lab.events("soak_finished")) == (0, "ok")
    assert lab.hosts["a"].installs == 1 and lab.hosts["b"].installs == 1


def test_no_soak_by_default_in_check_mode_or_for_a_role_set_to_zero(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "default", make_plan([["a"], ["b"]]))
    lab.root.mkdir()
    lab.run()
    assert lab.events("soak_started") == [] and lab.sleeps == []
    policy = SoakPolicy(minutes=5, by_role={Role.SERVER: 0})
    lab = Lab(tmp_path / "role", _with_soak(make_plan([["a"], ["b"]]), policy))
    lab.root.mkdir()
    lab.run()
    assert lab.events("soak_started") == []
    lab = Lab(tmp_path / "check", _with_soak(make_plan([["a"], ["b"]]), SoakPolicy(minutes=5)))
    lab.root.mkdir()
    lab.run(check_mode=True)
    assert lab.events("soak_started") == []


def test_soak_plan_takes_each_role_its_minutes() -> None:
    plan = make_plan([["a", "b"]])
    policy = SoakPolicy(minutes=2, by_role={Role.SERVER: 7.5})
    assert soak_plan(policy, plan.waves[0].hosts, ["a"]).minutes == {"a": 7.5}
    assert soak_plan(SoakPolicy(minutes=2), plan.waves[0].hosts, ["a", "b"]).longest == 2
    with pytest.raises(ValueError, match="between 0 and 1440"):
        SoakPolicy(by_role={Role.HMI: 2000})
