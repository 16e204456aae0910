"""An audit that cannot be written or (policy halt) forwarded stops the run from starting host steps: the run
ends halted with AUDIT_UNAVAILABLE, its hosts where `otorch resume` understands them, and resume finishes
the work with no host installed twice (issue 12 item 9's audit part). Fake backend, real store and log."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_backend import T0, FakeBackend, fake_hosts, fake_inventory, make_plan

from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.orchestrator import Orchestrator
from otorchestrator.models.results import Phase
from otorchestrator.models.run import AuditEvent, HostState, RunStatus
from otorchestrator.models.waves import WavePlan
from otorchestrator.store.audit import AuditLog, read_events, verify
from otorchestrator.store.audit_report import audit_report
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.errors import AuditUnavailable
from otorchestrator.store.state import StateStore

S = HostState


class BreakAfter:
    """A sink that makes the log unwritable (a directory where the file was) after record `seq`, or fails
    forwarding (policy halt) at it."""

    def __init__(self, seq: int, how: str) -> None:
        self.seq, self.how = seq, how
        self.moved: Path | None = None

    def written(self, record: AuditEvent, log: AuditLog) -> None:
        if record.seq != self.seq:
            return
        if self.how == "forward":
            raise AuditUnavailable(f"audit record seq {record.seq} not forwarded (test)", written=True)
        self.moved = log.path.with_name("audit.jsonl.kept")
        os.rename(log.path, self.moved)
        log.path.mkdir()

    def repair(self, log: Path) -> None:
        if self.moved is not None:
            log.rmdir()
            os.rename(self.moved, log)

    def close(self) -> None:
        return None


@pytest.fixture
def plan() -> WavePlan:
    return make_plan([["a", "b"], ["c"]])


def _orch(
    root: Path, plan: WavePlan, backend: FakeBackend, clock: FakeClock, sinks: list[BreakAfter]
) -> Iterator[tuple[Orchestrator, StateStore]]:
    store = StateStore(root / "state.db")
    audit = AuditLog(root / "audit.jsonl", head_store=store, sinks=sinks)
    try:
        yield Orchestrator(backend, store, audit, clock), store
    finally:
        store.close()


def _installing_seq(root: Path, plan: WavePlan) -> int:
    """The seq of host a's move to installing in an undisturbed run (to break the audit right there)."""
    clock = FakeClock(T0)
    backend = FakeBackend(fake_hosts(plan), clock, {})
    for orch, _ in _orch(root, plan, backend, clock, []):
        orch.run(plan, RunOptions(operator="alice", inventory=Path("inv"), hosts_inventory=fake_inventory))
    return next(
        e.seq for _, e in read_events(root / "audit.jsonl") if e.host == "a" and e.result == "installing"
    )


@pytest.mark.parametrize("how", ["unwritable", "forward"])
def test_audit_lost_mid_run_halts_then_resume_finishes(tmp_path: Path, plan: WavePlan, how: str) -> None:
    (tmp_path / "probe").mkdir()
    seq = _installing_seq(tmp_path / "probe", plan)
    root = tmp_path / "run"
    root.mkdir()
    clock = FakeClock(T0)
    hosts = fake_hosts(plan)
    backend = FakeBackend(hosts, clock, {})
    breaker = BreakAfter(seq - 1 if how == "unwritable" else seq, how)
    options = RunOptions(
        operator="alice", inventory=Path("inv"), hosts_inventory=fake_inventory, run_id="run-x"
    )
    for orch, store in _orch(root, plan, backend, clock, [breaker]):
        with pytest.raises(AuditUnavailable):
            orch.run(plan, options)
        run = store.get_run("run-x")
        assert run.status is RunStatus.HALTED and run.status_detail.startswith("audit unavailable: ")
        states = {h: r.state for h, r in store.host_states("run-x").items()}
        # a's (and b's) move to installing was not committed: no install started, nothing of wave 1
        assert states == {"a": S.BACKING_UP, "b": S.BACKING_UP, "c": S.PENDING}, states
        assert Phase.INSTALL not in {c.phase for c in backend.calls}
    breaker.repair(root / "audit.jsonl")
    for orch, store in _orch(root, plan, backend, clock, []):
        summary = orch.resume("run-x", plan, options)
        assert summary.run.status is RunStatus.COMPLETED
        assert {h.host: h.state for h in summary.hosts} == {
            "a": S.SUCCEEDED,
            "b": S.SUCCEEDED,
            "c": S.SUCCEEDED,
        }
        assert all(h.installs == 1 for h in hosts.values())
        assert verify(root / "audit.jsonl", store.audit_head()).ok
        report = audit_report(root / "audit.jsonl", store, None)
        assert report.store is not None and report.store.ok, report.problems()
        if how == "forward":  # the intent that was written but never committed is a note, not a problem
            assert any("audited but not committed" in n for n in report.store.notes)


def test_cli_run_exits_audit_unavailable_with_a_clear_message(tmp_path: Path) -> None:
    """`otorch run` against a syslog server that is not there (policy halt): exit 14 before anything."""
    import socket

    from otorchestrator.cli.main import cli

    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    config = tmp_path / "audit.yml"
    config.write_text(f"syslog:\n  host: 127.0.0.1\n  port: {port}\n  on_failure: halt\n")
    plan = make_plan([["a"]])
    waves = tmp_path / "waves.json"
    waves.write_text(plan.model_dump_json())
    (tmp_path / "inv").mkdir()
    result = CliRunner().invoke(
        cli,
        ["run", str(waves), "-i", str(tmp_path / "inv"), "--operator", "alice", "--yes",
         "--no-artifact-check", "--state-dir", str(tmp_path / "state"), "--audit-config", str(config)],
    )  # fmt: skip
    assert result.exit_code == 14, result.output
    assert "no connection to syslog 127.0.0.1" in result.output and "nothing was started" in result.output
    assert not (tmp_path / "state" / "audit.jsonl").exists()
