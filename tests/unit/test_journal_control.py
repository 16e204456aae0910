"""Control state lives in the store, not in re-reads of the audit file (issue 12 item 1): the install dedup,
an unfinished soak and the waves a run started with are read from the store, so they hold when the audit
log was rotated (the resume appends to a fresh log); a store made before they were kept (schema 4) gets
them from its audit log once, when it is migrated, and its run resumes the same way."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_backend import FakeBackend, SimulatedCrash, fake_hosts, fake_inventory, make_plan

from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.orchestrator import Orchestrator
from otorchestrator.execution.summary import RunSummary
from otorchestrator.models.policy import SoakPolicy
from otorchestrator.models.run import AuditKind, HostState
from otorchestrator.models.waves import WavePlan
from otorchestrator.store.audit import AuditLog, read_events
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.migrations import MIGRATIONS
from otorchestrator.store.state import StateStore

S = HostState
ROTATED = "audit-rotated.jsonl"


class CrashAt(StateStore):
    """kill -9 just before the store write that `when` picks."""

    def __init__(self, path: Path, when: Callable[[str, tuple[Any, ...]], bool]) -> None:
        super().__init__(path)
        self.when = when

    def transition(self, *args: Any, **kw: Any) -> Any:
        if self.when("transition", args):
            raise SimulatedCrash("before the transition")
        return super().transition(*args, **kw)

    def register_hosts(self, *args: Any, **kw: Any) -> Any:
        if self.when("register_hosts", args):
            raise SimulatedCrash("before registering the hosts")
        return super().register_hosts(*args, **kw)


class Site:
    def __init__(self, root: Path, plan: WavePlan) -> None:
        self.root, self.plan = root, plan
        self.clock = FakeClock(plan.created_at)
        self.hosts = fake_hosts(plan)
        self.backend = FakeBackend(self.hosts, self.clock)

    def sleep(self, seconds: float) -> None:
        self.clock.tick(seconds)

    def call(self, what: str, store: StateStore, audit: str = "audit.jsonl", **kw: Any) -> RunSummary:
        # a rotated log starts a new chain: its head is not the one the store anchored for the old file
        log = AuditLog(self.root / audit, head_store=store if audit == "audit.jsonl" else None)
        orch = Orchestrator(self.backend, store, log, self.clock)
        if what == "run":
            kw["run_id"] = "run-1"
        options = RunOptions(
            operator="alice", inventory=Path("inv"), hosts_inventory=fake_inventory, sleep=self.sleep, **kw
        )
        try:
            if what == "run":
                return orch.run(self.plan, options)
            return orch.resume("run-1", self.plan, options)
        finally:
            store.close()

    def crash(self, when: Callable[[str, tuple[Any, ...]], bool], **kw: Any) -> None:
        with pytest.raises(SimulatedCrash):
            self.call("run", CrashAt(self.root / "state.db", when), **kw)
        self.backend.crash_on_call = None

    def resume(self, audit: str = "audit.jsonl") -> RunSummary:
        return self.call("resume", StateStore(self.root / "state.db"), audit)

    def events(self, kind: str, audit: str = "audit.jsonl") -> list[Any]:
        return [e for _, e in read_events(self.root / audit) if e.kind == kind]


def _soaking(plan: WavePlan) -> WavePlan:
    policy = plan.policy.model_copy(update={"soak": SoakPolicy(minutes=3, interval_seconds=60)})
    return plan.model_copy(update={"policy": policy, "content_hash": ""}).sealed()


def _never(what: str, args: tuple[Any, ...]) -> bool:
    return False


def _before_registering(what: str, args: tuple[Any, ...]) -> bool:
    return what == "register_hosts"


def _states(summary: RunSummary) -> dict[str, HostState]:
    return {h.host: h.state for h in summary.hosts}


def _as_schema_4(db: Path) -> None:
    """What the store of the previous release looked like: no soaks table, no runs.waves (nor scans)."""
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE scan_task_events")
        conn.execute("DROP TABLE scans")
        conn.execute("DROP TABLE soaks")
        conn.execute("ALTER TABLE runs DROP COLUMN waves")
        conn.execute("DELETE FROM schema_version WHERE version >= 5")


def test_an_install_recorded_before_a_crash_is_not_recorded_again_after_the_log_was_rotated(
    tmp_path: Path,
) -> None:
    site = Site(tmp_path, make_plan([["a"]]))
    site.crash(lambda what, args: what == "transition" and args[3] is S.SUCCEEDED)  # install recorded
    summary = site.resume(ROTATED)
    assert _states(summary) == {"a": S.SUCCEEDED}
    assert site.events(AuditKind.PATCH_INSTALLED, ROTATED) == []  # the store knew: nothing recorded again
    assert [e.host for e in site.events(AuditKind.PATCH_INSTALLED)] == ["a"]
    with StateStore(tmp_path / "state.db") as store:
        assert [p.patch_id for p in store.patch_history("a")] == ["P-a"]
    assert site.hosts["a"].installs == 1


def test_a_soak_cut_short_is_soaked_again_on_resume_after_the_log_was_rotated(tmp_path: Path) -> None:
    site = Site(tmp_path, _soaking(make_plan([["a"], ["b"]])))
    site.backend.crash_on_call = 5  # diagnostics, backup, install, verify, then the first soak round
    site.crash(_never)
    summary = site.resume(ROTATED)
    assert _states(summary) == {"a": S.SUCCEEDED, "b": S.SUCCEEDED}
    assert [e.wave for e in site.events("soak_started", ROTATED)][:2] == [0, 1]  # wave 0 again, first


def test_a_run_that_crashed_before_registering_resumes_only_its_waves_after_the_log_was_rotated(
    tmp_path: Path,
) -> None:
    site = Site(tmp_path, make_plan([["a"], ["b"]]))
    site.crash(_before_registering, only_wave=1)
    summary = site.resume(ROTATED)
    assert _states(summary) == {"b": S.SUCCEEDED}  # wave 0 was not part of the run
    assert site.hosts["a"].installs == 0


@pytest.mark.parametrize("cut", ["soak", "registration"])
def test_a_run_of_a_schema_4_store_resumes_from_what_its_audit_log_held(tmp_path: Path, cut: str) -> None:
    if cut == "soak":
        site = Site(tmp_path, _soaking(make_plan([["a"], ["b"]])))
        site.backend.crash_on_call = 5
        site.crash(_never)
    else:
        site = Site(tmp_path, make_plan([["a"], ["b"]]))
        site.crash(_before_registering, only_wave=1)
    _as_schema_4(tmp_path / "state.db")
    summary = site.resume()  # opening the store migrates it: the audit log's facts are copied over once
    if cut == "soak":
        assert _states(summary) == {"a": S.SUCCEEDED, "b": S.SUCCEEDED}
        assert [e.wave for e in site.events("soak_started")][:3] == [0, 0, 1]
    else:
        assert _states(summary) == {"b": S.SUCCEEDED}
    with StateStore(tmp_path / "state.db") as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.run_waves("run-1") == ({0, 1} if cut == "soak" else {1})
        assert store.unfinished_soaks("run-1") == set()
    assert all(h.installs <= 1 for h in site.hosts.values())
