"""A state store that stops taking writes mid-run (SQLite's own SQLITE_FULL, "database or disk is full"):
the run ends with `StoreUnavailable` and its own exit code, nothing further starts, and `otorch resume`
finishes every host once the store takes writes again."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_backend import T0, TARGET, FakeBackend, fake_hosts, fake_inventory, make_plan, package_of

from otorchestrator.app.errors import AppError
from otorchestrator.app.runs import _engine_errors
from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.orchestrator import Orchestrator
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.results import Phase
from otorchestrator.models.run import HostState, RunStatus
from otorchestrator.store.audit import AuditLog, verify
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.errors import StoreUnavailable
from otorchestrator.store.state import StateStore

T0_PLAN = make_plan([["a", "b"], ["c"]])


class FailingStore(StateStore):
    """From the `from_write`-th host transition on, no write commits. "readonly": SQLite's own refusal
    (`PRAGMA query_only`); "full": the error SQLite raises on SQLITE_FULL, injected at every transaction
    (a small test run's rows fit in the pages the file already has, so a page limit is never reached)."""

    def __init__(self, path: Path, from_write: int, how: str) -> None:
        self.from_write, self.how, self.count, self.broken = from_write, how, 0, False
        super().__init__(path)

    def transition(self, *args: Any, **kw: Any) -> Any:
        self.count += 1
        if self.count == self.from_write:
            self.broken = True
            if self.how == "readonly":
                with self._mutex:
                    self._conn.execute("PRAGMA query_only = ON")
        return super().transition(*args, **kw)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self.broken and self.how == "full":
            raise sqlite3.OperationalError("database or disk is full")
        with super()._tx() as conn:
            yield conn


def _orchestrator(root: Path, backend: FakeBackend, clock: FakeClock, store: StateStore) -> Orchestrator:
    audit = AuditLog(root / "audit.jsonl", head_store=store)
    return Orchestrator(backend, store, audit, clock)


@pytest.mark.parametrize("how", ["full", "readonly"])
@pytest.mark.parametrize("from_write", [2, 5, 9, 14])
def test_an_unwritable_store_stops_the_run_and_resume_finishes_it(
    tmp_path: Path, from_write: int, how: str
) -> None:
    clock = FakeClock(T0)
    hosts = fake_hosts(T0_PLAN)
    backend = FakeBackend(hosts, clock, {})
    options = RunOptions(
        operator="alice", inventory=Path("inventory"), hosts_inventory=fake_inventory, run_id="run-full"
    )
    store = FailingStore(tmp_path / "state.db", from_write, how)
    message = "database or disk is full" if how == "full" else "attempt to write a readonly database"
    expected = rf"state store cannot be written \({message}\).*otorch resume"
    with pytest.raises(StoreUnavailable, match=expected):
        _orchestrator(tmp_path, backend, clock, store).run(T0_PLAN, options)
    store.close()
    calls = len(backend.calls)
    with StateStore(tmp_path / "state.db") as store:
        run = store.get_run("run-full")
        assert run.status in (RunStatus.HALTED, RunStatus.RUNNING)  # both are what resume takes up
        summary = _orchestrator(tmp_path, backend, clock, store).resume("run-full", T0_PLAN, options)
        assert {h.host: h.state for h in summary.hosts} == {n: HostState.SUCCEEDED for n in "abc"}
        assert verify(tmp_path / "audit.jsonl", store.audit_head()).ok
    assert len(backend.calls) > calls
    for name, host in hosts.items():
        assert host.installs == 1, name
        assert host.versions[package_of(name)] == TARGET
    assert all(c.phase is not Phase.ROLLBACK for c in backend.calls)


def test_the_cli_exit_code_of_an_unwritable_store() -> None:
    with pytest.raises(AppError) as caught, _engine_errors("run-x"):
        raise StoreUnavailable("state.db: the state store cannot be written (database or disk is full)")
    assert caught.value.code is ExitCode.STATE_UNAVAILABLE
    assert "database or disk is full" in caught.value.message
