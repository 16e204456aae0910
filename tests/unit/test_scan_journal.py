"""`otorch scan` writes through the journal of the scan: the baselines and their audit records carry the
scan's id (so does the backend's request: its orphan clean-up finds the scan), and a secret registered
for the scan reaches neither the store nor the audit log."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from test_drill_cli import FakeHosts

from otorchestrator.app import scans
from otorchestrator.app.session import Caller
from otorchestrator.execution.backend import PhaseOutcome, PhaseRequest
from otorchestrator.store.audit import read_events, verify
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.state import StateStore

LAB = Path(__file__).parents[2] / "inventories" / "lab"
SECRET = "s3cr3t-scan-canary-91"


class Leaky(FakeHosts):
    """Every scan result carries SECRET (a message and a value), as a task that printed it would."""

    def run_phase(self, request: PhaseRequest, on_event: Any = None, cancel: Any = None) -> PhaseOutcome:
        outcome = super().run_phase(request, on_event, cancel)
        results = {
            h: r.model_copy(
                update={"message": f"printed {SECRET}", "values": {**r.values, "motd": f"key={SECRET}"}}
            )
            for h, r in outcome.results.items()
        }
        return outcome.model_copy(update={"results": results})


def _scan(tmp_path: Path, backend: FakeHosts, **kw: Any) -> scans.Scanned:
    caller = Caller(state_dir=tmp_path / "st", backend=lambda paths: backend, clock=FakeClock())
    return scans.scan(LAB, "carol", caller, limit="nw-hmi-02", catalog=LAB / "catalog.yml", **kw)


def test_a_registered_secret_in_a_scan_reaches_neither_store_nor_audit(tmp_path: Path) -> None:
    scanned = _scan(tmp_path, Leaky(), secrets=[SECRET])
    assert list(scanned.recorded) == ["nw-hmi-02"]
    with sqlite3.connect(tmp_path / "st" / "state.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert "motd" in dump and SECRET not in dump  # the baseline is stored, scrubbed
    assert SECRET not in (tmp_path / "st" / "audit.jsonl").read_text(encoding="utf-8")
    assert SECRET not in repr(scanned.recorded["nw-hmi-02"].record.data)


def test_baselines_and_their_audit_records_carry_the_scan_id(tmp_path: Path) -> None:
    backend = Leaky()
    _scan(tmp_path, backend, scan_id="SCAN-T1")
    assert [r.run_id for r in backend.requests] == ["SCAN-T1"]  # what end_orphans is given
    (event,) = [
        e for _, e in read_events(tmp_path / "st" / "audit.jsonl") if e.kind == scans.BASELINE_RECORDED
    ]
    assert (event.kind, event.run_id, event.host) == (scans.BASELINE_RECORDED, "SCAN-T1", "nw-hmi-02")
    with StateStore(tmp_path / "st" / "state.db") as store:
        baseline = store.latest_baseline("nw-hmi-02")
        assert baseline is not None and baseline.run_id == "SCAN-T1"
        assert verify(tmp_path / "st" / "audit.jsonl", expected_head=store.audit_head()).ok
