"""A scan's task events go through the scan's journal into the store, keyed by the scan's id, and `otorch
audit verify` checks them against the digests its scan_result records carry, as a run's (issue 12 item 1).
A scan is not a run: status, report, resume and a new run's id never take it for one."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_drill_cli import FakeHosts

from otorchestrator.app import scans
from otorchestrator.app.session import Caller
from otorchestrator.cli.audit import audit
from otorchestrator.cli.report import report
from otorchestrator.cli.run import resume, status
from otorchestrator.execution.backend import PhaseOutcome, PhaseRequest, TaskEvent
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.run import RunRecord
from otorchestrator.store.audit import AuditLog, read_events
from otorchestrator.store.audit_records import task_events_digest
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.errors import RunExists
from otorchestrator.store.journal import RunJournal
from otorchestrator.store.journal_scan import SCAN_FINISHED, SCAN_RESULT, SCAN_STARTED
from otorchestrator.store.state import StateStore

LAB = Path(__file__).parents[2] / "inventories" / "lab"
HOSTS = ["nw-hmi-01", "nw-hmi-02"]
TASKS = [("started", "ot_scan : packages"), ("ok", "ot_scan : packages"), ("changed", "ot_scan : hashes"),
         ("skipped", "ot_scan : ports")]  # fmt: skip


class Eventful(FakeHosts):
    """FakeHosts whose scan reports its tasks as they run, as ansible-runner's events do."""

    def __init__(self, fail_after_events: bool = False) -> None:
        super().__init__()
        self.fail_after_events = fail_after_events

    def run_phase(
        self,
        request: PhaseRequest,
        on_event: Callable[[TaskEvent], None] | None = None,
        cancel: Any = None,
    ) -> PhaseOutcome:
        for host in request.hosts:
            for status_, task in TASKS:
                if on_event is not None:
                    on_event(TaskEvent(host=host, phase=request.phase, task=task, status=status_))
        if self.fail_after_events:
            raise RuntimeError("the controller died")
        return super().run_phase(request, on_event, cancel)


def scan(root: Path, backend: FakeHosts, scan_id: str = "SCAN-T1") -> scans.Scanned:
    caller = Caller(state_dir=root, backend=lambda paths: backend, clock=FakeClock())
    return scans.scan(LAB, "carol", caller, limit="nw-hmi-*", scan_id=scan_id)


def verify(root: Path) -> Any:
    return CliRunner().invoke(audit, ["verify", "--state-dir", str(root)])


def sql(root: Path, statement: str, *params: Any) -> list[Any]:
    with sqlite3.connect(root / "state.db") as conn:
        return list(conn.execute(statement, params))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    scan(tmp_path / "st", Eventful())
    return tmp_path / "st"


def test_a_scans_task_events_are_stored_under_its_id_and_each_hosts_result_carries_their_digest(
    root: Path,
) -> None:
    with StateStore(root / "state.db") as store:
        stored = {h: store.scan_task_events("SCAN-T1", h) for h in HOSTS}
        (record,) = store.list_scans()
        assert store.list_runs() == [] and store.latest_run() is None  # a scan is not a run
    assert (record.scan_id, record.operator, record.hosts) == ("SCAN-T1", "carol", tuple(HOSTS))
    assert record.finished_at is not None
    for host in HOSTS:  # "started" is no result; "changed" is ok and changed
        assert [(e.phase.value, e.task, e.status, e.changed) for e in stored[host]] == [
            ("scan", "ot_scan : packages", "ok", False), ("scan", "ot_scan : hashes", "ok", True),
            ("scan", "ot_scan : ports", "skipped", False),
        ]  # fmt: skip
    events = [e for _, e in read_events(root / "audit.jsonl")]
    assert [(e.kind, e.host) for e in events if e.kind != scans.BASELINE_RECORDED] == [
        (SCAN_STARTED, None), (SCAN_RESULT, "nw-hmi-01"), (SCAN_RESULT, "nw-hmi-02"), (SCAN_FINISHED, None)
    ]  # fmt: skip
    assert all(e.run_id == "SCAN-T1" and e.operator == "carol" for e in events)
    for e in events:
        if e.kind == SCAN_RESULT:
            assert e.detail["task_events"] == task_events_digest(stored[e.host or ""])
            assert (e.result, e.detail["outcome"]) == ("ok", "ok")


def test_an_untouched_scan_verifies(root: Path) -> None:
    result = verify(root)
    assert result.exit_code == 0, result.output
    assert "scan" not in result.stderr  # no note about scans (nor "run id(s) ... have no store record")
    as_json = CliRunner().invoke(audit, ["verify", "--state-dir", str(root), "--json"])
    assert json.loads(as_json.output)["store"]["scans"] == 1


def test_an_edited_scan_task_event_fails_verify_naming_the_scan_host_and_record(root: Path) -> None:
    ((row,),) = sql(root, "SELECT id FROM scan_task_events WHERE host = ? AND task = ?", HOSTS[1],
                    "ot_scan : hashes")  # fmt: skip
    sql(root, "UPDATE scan_task_events SET status = 'failed' WHERE id = ?", row)
    result = verify(root)
    assert result.exit_code == ExitCode.INTEGRITY, result.output
    (seq,) = [
        e.seq for _, e in read_events(root / "audit.jsonl") if e.kind == SCAN_RESULT and e.host == HOSTS[1]
    ]
    assert (
        f"store: seq {seq}: scan SCAN-T1 host nw-hmi-02: task events of its scan job (events 1..3 of the "
        "host, 3 stored) do not match the digest of its scan result"
    ) in result.output
    assert "nw-hmi-01: task events" not in result.output


def test_a_deleted_or_added_scan_task_event_fails_verify(root: Path, tmp_path: Path) -> None:
    sql(root, "DELETE FROM scan_task_events WHERE host = ? AND task = 'ot_scan : ports'", HOSTS[0])
    result = verify(root)
    assert result.exit_code == ExitCode.INTEGRITY
    assert "scan SCAN-T1 host nw-hmi-01: task events of its scan job (events 1..3 of the host, 2 stored)" in (
        result.output
    )
    other = tmp_path / "other"
    scan(other, Eventful())
    sql(other, "INSERT INTO scan_task_events (scan_id, host, phase, task, status, changed, at)"
        " VALUES ('SCAN-T1', 'nw-hmi-02', 'scan', 'x', 'ok', 0, '2026-01-01T00:00:00+00:00')")  # fmt: skip
    result = verify(other)
    assert result.exit_code == ExitCode.INTEGRITY
    assert (
        "store: store: scan SCAN-T1 host nw-hmi-02: 1 task event(s) stored after the host's last audited "
        "scan result (events 4..4: scan 'x' ok): added"
    ) in result.output


def test_a_scan_removed_from_the_store_or_unknown_to_the_audit_is_found(root: Path) -> None:
    sql(root, "DELETE FROM scan_task_events")
    sql(root, "DELETE FROM scans")
    result = verify(root)
    assert result.exit_code == ExitCode.INTEGRITY
    assert "scan SCAN-T1 host nw-hmi-01: scan scan_result missing in the store" in result.output


def test_a_scan_the_backend_broke_off_leaves_its_events_noted_not_failed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="the controller died"):
        scan(tmp_path / "st", Eventful(fail_after_events=True))
    with StateStore(tmp_path / "st" / "state.db") as store:
        (record,) = store.list_scans()
        assert record.finished_at is None and len(store.scan_task_events("SCAN-T1")) == 6
    result = verify(tmp_path / "st")
    assert result.exit_code == 0, result.output
    assert (
        "scan SCAN-T1 host nw-hmi-01: 3 task event(s) stored after the host's last audited scan result "
        "(events 1..3: scan 'ot_scan : packages' ok, scan 'ot_scan : hashes' ok, scan 'ot_scan : ports' "
        "skipped) are not covered by the audit (the scan stopped before its results were audited)"
    ) in result.stderr


def test_the_same_scan_id_scanned_again_adds_to_it_and_still_verifies(root: Path) -> None:
    scan(root, Eventful())  # DRIFT-<second>: two checks in the same second share an id
    with StateStore(root / "state.db") as store:
        assert len(store.list_scans()) == 1 and len(store.scan_task_events("SCAN-T1", HOSTS[0])) == 6
    result = verify(root)
    assert result.exit_code == 0, result.output


def test_a_scan_is_no_run_for_status_report_resume_or_a_new_run(root: Path) -> None:
    args = ["--state-dir", str(root)]
    latest = CliRunner().invoke(status, args)
    assert latest.exit_code == ExitCode.USAGE and "no runs in the state store" in latest.output
    for command, argv in ((status, ["SCAN-T1"]), (resume, ["SCAN-T1", "--operator", "eve"]),
                          (report, ["run", "SCAN-T1"])):  # fmt: skip
        result = CliRunner().invoke(command, [*argv, *args])
        said = result.output + str(result.exception or "")  # status: a RunNotFound (asked in requests.md)
        assert result.exit_code != 0 and "no run 'SCAN-T1' in the state store" in said, (argv, said)
    with StateStore(root / "state.db") as store:
        before = (root / "audit.jsonl").read_bytes()
        journal = RunJournal(store, AuditLog(root / "audit.jsonl", head_store=store), "SCAN-T1", "eve")
        record = RunRecord(run_id="SCAN-T1", operator="eve", waveplan_hash="w", plan_hash="p",
                           started_at=FakeClock().now())  # fmt: skip
        with pytest.raises(RunExists):
            journal.start_run(record, {})
        assert (root / "audit.jsonl").read_bytes() == before  # refused before anything was written
