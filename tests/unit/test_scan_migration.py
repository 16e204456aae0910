"""A state store of schema 5 (before scans were kept, what main wrote) opens as schema 6 with its runs,
task events and baselines as they were; its old scans stay audit-only (a note of `otorch audit verify`), and
new scans and runs on it verify (issue 12 item 1)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner
from fake_backend import T0, FakeBackend, fake_hosts, fake_inventory, make_plan
from test_scan_task_events import Eventful, scan

from otorchestrator.cli.audit import audit
from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.orchestrator import Orchestrator
from otorchestrator.execution.scan import BASELINE_RECORDED
from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.journal_base import JournalBase
from otorchestrator.store.migrations import MIGRATIONS
from otorchestrator.store.state import StateStore


def _as_schema_5(db: Path) -> None:
    """The store as the release before scans were kept had it: no scans, no scan_task_events."""
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE scan_task_events")
        conn.execute("DROP TABLE scans")
        conn.execute("DELETE FROM schema_version WHERE version >= 6")


def test_a_schema_5_store_migrates_and_its_runs_old_scans_and_new_scans_verify(tmp_path: Path) -> None:
    root = tmp_path / "st"
    root.mkdir()
    plan = make_plan([["a", "b"]], budget=1)
    clock = FakeClock(T0)
    with StateStore(root / "state.db") as store:
        log = AuditLog(root / "audit.jsonl", head_store=store)
        options = RunOptions(
            operator="alice", inventory=Path("inv"), hosts_inventory=fake_inventory, run_id="run-1"
        )
        Orchestrator(FakeBackend(fake_hosts(plan), clock, {}), store, log, clock).run(plan, options)
        old = JournalBase(store, log, "SCAN-OLD", "carol")  # a scan as it was: audit, then its baseline
        old.event(BASELINE_RECORDED, T0, host="nw-hmi-01", result="ok", detail={"packages": 1, "ports": []})
        store.save_baseline(
            "nw-hmi-01", PhaseResult(phase=Phase.SCAN, host="nw-hmi-01", ok=True), T0, "SCAN-OLD"
        )
        events_before = store.task_events("run-1")
    _as_schema_5(root / "state.db")
    with sqlite3.connect(root / "state.db") as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (5,)

    with StateStore(root / "state.db") as store:
        assert store.schema_version == len(MIGRATIONS) == 6
        assert [r.run_id for r in store.list_runs()] == ["run-1"] and store.list_scans() == []
        assert store.task_events("run-1") == events_before and len(events_before) > 0
        baseline = store.latest_baseline("nw-hmi-01")
        assert baseline is not None and baseline.run_id == "SCAN-OLD"
    result = CliRunner().invoke(audit, ["verify", "--state-dir", str(root)])
    assert result.exit_code == 0, result.output
    assert (
        "1 run id(s) in the audit log have no store record (refused runs, or scans from before"
        in result.stderr
    )

    scan(root, Eventful(), scan_id="SCAN-NEW")  # a scan on the migrated store: stored and verified
    with StateStore(root / "state.db") as store:
        assert [s.scan_id for s in store.list_scans()] == ["SCAN-NEW"]
        assert len(store.scan_task_events("SCAN-NEW")) == 6
    result = CliRunner().invoke(audit, ["verify", "--state-dir", str(root)])
    assert result.exit_code == 0, result.output
