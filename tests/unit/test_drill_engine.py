"""The drill run by the engine's writers: redaction, the `expect` guard, task events, the observer, and a
drill killed at every boundary then finished by `Drill.resume` (nothing installed twice)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fake_backend import SimulatedCrash, fake_inventory

from otorchestrator.execution.backend import (
    BackupStore,
    Notify,
    PhaseOutcome,
    PhaseRequest,
    RunStatus,
    TaskEvent,
)
from otorchestrator.execution.drill import Drill
from otorchestrator.execution.drill_models import DRILL_RESULT, DrillSpec
from otorchestrator.execution.observer import NullObserver
from otorchestrator.models.asset import Asset, Criticality, InstalledProduct, Role
from otorchestrator.models.catalog import Patch
from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import HostState
from otorchestrator.models.run import RunStatus as StoreRunStatus
from otorchestrator.store.audit import AuditLog, read_events, verify
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.errors import StateConflict
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.redact import REDACTED, Redactor
from otorchestrator.store.state import StateStore

S = HostState
PATCH = Patch(
    id="NWC-P-DRILL",
    vendor="Northwind Controls",
    product="NWC Drill Agent",
    package="nwc-drill-agent",
    fixed_version="1.1.0",
    target_version="1.1.0",
)
SECRET = "hunter2-canary-7f3a"


def asset(name: str) -> Asset:
    return Asset(
        name=name, site="s", zone="z", purdue_level=2, role=Role.HMI, criticality=Criticality.LOW,
        installed_products=(
            InstalledProduct(
                vendor="Northwind Controls", product="NWC Drill Agent", version="1.0.0",
                package="nwc-drill-agent",
            ),
        ),
        groups=("drill",),
    )  # fmt: skip


def spec(*names: str, drill_id: str = "DRILL-E1") -> DrillSpec:
    return DrillSpec(
        drill_id=drill_id, group="drill", patch=PATCH, assets=tuple(asset(n) for n in names),
        inventory=Path("inv"), operator="bob", hosts_inventory=fake_inventory,
    )  # fmt: skip


@dataclass
class Host:
    version: str = "1.0.0"
    backup: str | None = None
    installs: int = 0
    rollbacks: int = 0


@dataclass
class DrillHosts:
    """Hosts that install (1.0.0 -> 1.1.0), roll back from their backup and scan; one task event per
    phase; `crash_on_call` stands for kill -9 during that call (after its effects); `leak` puts SECRET in
    every result's message, check detail and task name; `during` runs inside the n-th call."""

    clock: FakeClock
    hosts: dict[str, Host] = field(default_factory=dict)
    crash_on_call: int | None = None
    leak: bool = False
    during: dict[int, Callable[[], None]] = field(default_factory=dict)
    calls: list[tuple[str, Phase]] = field(default_factory=list)
    backups: BackupStore = field(default_factory=lambda: BackupStore(location="/fake/backups"))

    def run_phase(
        self,
        request: PhaseRequest,
        on_event: Callable[[TaskEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> PhaseOutcome:
        self.clock.tick(30)
        results = {}
        for name in request.hosts:
            self.calls.append((name, request.phase))
            host = self.hosts.setdefault(name, Host())
            task = f"fake {request.phase.value}" + (f" token={SECRET}" if self.leak else "")
            if on_event is not None:
                on_event(TaskEvent(host=name, phase=request.phase, task=task, status="ok"))
            values: dict[str, Any] = {}
            if request.phase is Phase.BACKUP:
                host.backup = host.version
            elif request.phase is Phase.INSTALL:
                host.version, host.installs = "1.1.0", host.installs + 1
            elif request.phase is Phase.ROLLBACK:
                ids = request.extravars.get("otorch_backup_ids") or {}
                assert ids.get(name, request.extravars.get("otorch_backup_id")) == f"bk-{name}"
                assert host.backup is not None, f"{name}: rollback without a backup"
                host.version, host.rollbacks = host.backup, host.rollbacks + 1
            elif request.phase is Phase.SCAN:
                values = {"packages": {"nwc-drill-agent": host.version}, "listening": ["tcp 0.0.0.0:22"]}
            data: dict[str, Any] = {
                "phase": request.phase, "host": name, "ok": True, "values": values,
                "backup_id": f"bk-{name}" if request.phase is Phase.BACKUP else None,
            }  # fmt: skip
            if self.leak:
                data["message"] = f"the task printed password={SECRET}"
                data["checks"] = [{"name": "probe", "ok": True, "detail": f"saw {SECRET}"}]
            results[name] = PhaseResult.model_validate(data)
        if len(self.calls) in self.during:
            self.during[len(self.calls)]()
        if self.crash_on_call is not None and len(self.calls) == self.crash_on_call:
            raise SimulatedCrash(f"kill -9 during call {len(self.calls)} ({request.phase.value})")
        return PhaseOutcome(phase=request.phase, status=RunStatus.SUCCESSFUL, rc=0, results=results)

    def end_orphans(self, run_id: str, grace_s: float = 30.0, notify: Notify | None = None) -> list[str]:
        return []


class Env:
    def __init__(self, root: Path, redactor: Redactor | None = None) -> None:
        self.paths = StatePaths(root / "state").ensure()
        self.clock = FakeClock()
        self.backend = DrillHosts(self.clock)
        self.redactor = redactor

    def drill(self, store: StateStore | None = None, observer: Any = None) -> tuple[Drill, StateStore]:
        """The drill over the audit log that holds the redactor (the app gives the Drill the same one)."""
        store = store or StateStore(self.paths.db)
        audit = AuditLog(self.paths.audit, head_store=store, redactor=self.redactor)
        observers = [observer] if observer is not None else []
        return Drill(self.backend, store, audit, self.clock, observers=observers), store


def _dump(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return "\n".join(conn.iterdump())


def test_a_registered_secret_in_a_phase_message_reaches_neither_store_nor_audit(tmp_path: Path) -> None:
    e = Env(tmp_path, Redactor([SECRET]))
    e.backend.leak = True
    runner, store = e.drill()
    report = runner.run(spec("h1"))
    assert report.passed
    assert SECRET not in _dump(e.paths.db)
    assert SECRET not in e.paths.audit.read_text(encoding="utf-8")
    assert SECRET not in report.model_dump_json()
    assert REDACTED in _dump(e.paths.db)  # the results are stored, scrubbed
    store.close()


def test_a_state_moved_under_the_drill_is_refused(tmp_path: Path) -> None:
    """While h1 verifies, another writer settles it: the drill's next move (to rolling back) expects
    verifying and is refused; nothing is rolled back on a host the drill no longer owns."""
    e = Env(tmp_path)
    runner, store = e.drill()

    def settle() -> None:
        store.transition("DRILL-E1", "h1", 0, S.SUCCEEDED, now=e.clock.now())

    e.backend.during[5] = settle  # scan, diagnostics, backup, install, verify
    with pytest.raises(StateConflict):
        runner.run(spec("h1"))
    assert ("h1", Phase.ROLLBACK) not in e.backend.calls
    assert store.get_run("DRILL-E1").status is StoreRunStatus.FAILED


def test_task_events_are_stored_like_a_waves(tmp_path: Path) -> None:
    e = Env(tmp_path)
    runner, store = e.drill()
    runner.run(spec("h1"))
    stored = [(t.phase, t.status) for t in store.task_events("DRILL-E1", "h1")]
    chain = [Phase.SCAN, Phase.DIAGNOSTICS, Phase.BACKUP, Phase.INSTALL, Phase.VERIFY, Phase.ROLLBACK]
    assert [p for p, _ in stored] == [*chain, Phase.SCAN]
    assert {s for _, s in stored} == {"ok"}
    assert store.host_state("DRILL-E1", "h1").backup_id == "bk-h1"  # type: ignore[union-attr]


def test_the_observer_sees_every_move_and_task(tmp_path: Path) -> None:
    class Seen(NullObserver):
        def __init__(self) -> None:
            self.moves: list[tuple[str, HostState]] = []
            self.tasks: list[str] = []

        def host_moved(
            self, host: str, wave: int, before: Any, after: HostState, detail: str, at: Any
        ) -> None:
            self.moves.append((host, after))

        def task(self, event: TaskEvent) -> None:
            self.tasks.append(event.task)

    e = Env(tmp_path)
    seen = Seen()
    runner, _ = e.drill(observer=seen)
    runner.run(spec("h1"))
    assert [s for _, s in seen.moves] == [
        S.PENDING,
        S.DIAGNOSING,
        S.BACKING_UP,
        S.INSTALLING,
        S.VERIFYING,
        S.ROLLING_BACK,
        S.ROLLED_BACK,
    ]
    assert len(seen.tasks) == 7


def test_a_host_left_changed_halts_the_drill_before_the_next_host(tmp_path: Path) -> None:
    """h1's rollback fails (still at 1.1.0): h2 is not drilled while h1 is down (skipped, halted)."""
    e = Env(tmp_path)
    real = e.backend.run_phase

    def stuck(request: PhaseRequest, on_event: Any = None, cancel: Any = None) -> PhaseOutcome:
        outcome = real(request, on_event, cancel)
        if request.phase is Phase.ROLLBACK:
            e.backend.hosts["h1"].version = "1.1.0"
            failed = outcome.results["h1"].model_copy(update={"ok": False, "message": "dpkg refused"})
            return outcome.model_copy(update={"results": {"h1": failed}})
        return outcome

    e.backend.run_phase = stuck  # type: ignore[method-assign]
    runner, store = e.drill()
    report = runner.run(spec("h1", "h2"))
    assert [(h.host, h.final_state, h.passed) for h in report.hosts] == [
        ("h1", S.ROLLBACK_FAILED, False),
        ("h2", S.SKIPPED, False),
    ]
    assert "h1 not restored" in report.hosts[1].message and not report.passed
    assert [h for h, _ in e.backend.calls] == ["h1"] * 7
    verdicts = [(ev.host, ev.result) for _, ev in read_events(e.paths.audit) if ev.kind == DRILL_RESULT]
    assert verdicts == [("h1", "failed")]  # h2 was not drilled: no verdict for it
    assert store.get_run("DRILL-E1").status is StoreRunStatus.FAILED


# -- killed at every boundary, then resumed ----------------------------------------------------------------


class CrashingStore(StateStore):
    """Crashes at the n-th host write (registration or transition): before it is written or after."""

    def __init__(self, path: Path, crash_at: int, after: bool) -> None:
        super().__init__(path)
        self.crash_at, self.after, self.count = crash_at, after, 0

    def _step(self, write: Callable[[], Any]) -> Any:
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


HOSTS = ("h1", "h2")
WRITES = 1 + 6 * len(HOSTS)  # registration, then six moves per host
CALLS = 7 * len(HOSTS)


def _resume_and_check(e: Env, crashed: StateStore) -> None:
    crashed.close()
    e.backend.crash_on_call = None
    runner, store = e.drill()
    report = runner.resume(spec(*HOSTS))
    assert all(h.passed or h.inconclusive for h in report.hosts), [h.message for h in report.hosts]
    states = store.host_states("DRILL-E1")
    assert {h: r.state for h, r in states.items()} == {h: S.ROLLED_BACK for h in HOSTS}
    done = StoreRunStatus.COMPLETED if report.passed else StoreRunStatus.FAILED
    assert store.get_run("DRILL-E1").status is done
    for name in HOSTS:
        host = e.backend.hosts[name]
        assert host.installs <= 1, f"{name} installed {host.installs} times"
        assert host.version == "1.0.0", name
        result = report.hosts[HOSTS.index(name)]
        assert result.differences == ()
        # killed between the move to installing and the install's result: restored, proves nothing
        assert result.inconclusive is (host.installs == 0 or "may not have run" in result.message)
        if result.inconclusive:
            assert not result.passed and "inconclusive" in result.message, result.message
    verdicts = [ev for _, ev in read_events(e.paths.audit) if ev.kind == DRILL_RESULT]
    assert {ev.host: ev.result for ev in verdicts} == {h.host: h.verdict for h in report.hosts}
    assert verify(e.paths.audit, store.audit_head()).ok
    store.close()


def test_drill_killed_inside_every_phase_call_is_finished_by_resume(tmp_path: Path) -> None:
    for n in range(1, CALLS + 1):
        e = Env(tmp_path / f"call-{n}")
        e.backend.crash_on_call = n
        runner, store = e.drill()
        with pytest.raises(SimulatedCrash):
            runner.run(spec(*HOSTS))
        _resume_and_check(e, store)


def test_drill_killed_at_every_state_write_is_finished_by_resume(tmp_path: Path) -> None:
    for after in (False, True):
        for n in range(1, WRITES + 1):
            e = Env(tmp_path / f"write-{n}-{after}")
            runner, store = e.drill(CrashingStore(e.paths.db, n, after))
            with pytest.raises(SimulatedCrash):
                runner.run(spec(*HOSTS))
            _resume_and_check(e, store)


def test_resume_of_a_resume_killed_mid_rollback(tmp_path: Path) -> None:
    e = Env(tmp_path)
    e.backend.crash_on_call = 4  # h1 install
    runner, store = e.drill()
    with pytest.raises(SimulatedCrash):
        runner.run(spec(*HOSTS))
    store.close()
    e.backend.crash_on_call = 6  # the resume's probe scan of h1 is call 5, its forced rollback call 6
    runner, store = e.drill()
    with pytest.raises(SimulatedCrash):
        runner.resume(spec(*HOSTS))
    assert store.host_state("DRILL-E1", "h1").state is S.ROLLING_BACK  # type: ignore[union-attr]
    _resume_and_check(e, store)
    assert e.backend.hosts["h1"].rollbacks == 2  # rolled back again: a restore from the backup is idempotent


def test_resume_refuses_another_patch_or_hosts(tmp_path: Path) -> None:
    from otorchestrator.execution.drill_models import DrillMismatch

    e = Env(tmp_path)
    e.backend.crash_on_call = 2
    runner, store = e.drill()
    with pytest.raises(SimulatedCrash):
        runner.run(spec(*HOSTS))
    calls = len(e.backend.calls)
    with pytest.raises(DrillMismatch):
        runner.resume(spec("h1"))
    assert len(e.backend.calls) == calls
    store.close()
