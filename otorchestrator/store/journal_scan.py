"""The one writer of a scan's facts (`otorch scan`, `otorch drift`): audit then store, as a run's journal.

A scan is not a run (store/scans.py): `start` audits `scan_started` (the intent) and then creates the
scan in the store; each task event goes to the store as it arrives, keyed by the scan's id (store only,
never failing the scan); each host's result is audited as `scan_result` carrying the count and digest of
the host's task events of the scan as stored (store/audit_records.py task_events_digest), as a run's
phase-result records do; `finished` audits `scan_finished` and then marks the scan finished. What the
scan is for (baselines, drift checks) is audited through the same journal, under the same id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import BaselineRecord
from otorchestrator.store.audit_records import task_events_digest
from otorchestrator.store.errors import RunExists
from otorchestrator.store.journal_base import JournalBase

SCAN_STARTED = "scan_started"
SCAN_RESULT = "scan_result"
SCAN_FINISHED = "scan_finished"


class ScanJournal(JournalBase):
    """The store and audit log of one scan (`run_id`: the scan's id, the audit records' run id)."""

    def start(self, hosts: Sequence[str], now: datetime, detail: Mapping[str, Any] | None = None) -> None:
        """Audit scan_started, then create the scan in the store (an id scanned before: store/scans.py
        create_scan). Raises `RunExists` before anything is written when a run has the id."""
        with self.store.locked():
            if self.store.is_run(self.run_id):
                raise RunExists(self.run_id)
            self.event(SCAN_STARTED, now, result="started", detail={"hosts": list(hosts), **(detail or {})})
            self.store.create_scan(self.run_id, self.operator, hosts, now)

    def task_event(
        self, host: str, phase: Phase, task: str, status: str, changed: bool, now: datetime
    ) -> None:
        """One task result as it arrives (store only; the host's `scan_result` record carries its digest)."""
        self.store.record_scan_task_event(self.run_id, host, phase, task, status, changed, now)

    def result(self, host: str, result: PhaseResult | None, now: datetime) -> None:
        """Audit the host's scan verdict (None: the backend gave no result for it) with the digest of its
        task events of this scan as stored now."""
        events = task_events_digest(self.store.scan_task_events(self.run_id, host))
        self.event(
            SCAN_RESULT,
            now,
            host=host,
            phase=Phase.SCAN,
            result="ok" if result is not None and result.ok else "failed",
            detail={
                "outcome": result.outcome.value if result is not None else "no_result",
                "failed_checks": [c.name for c in result.failed_checks] if result is not None else [],
                "task_events": events,
            },
        )

    def finished(self, now: datetime, detail: Mapping[str, Any] | None = None) -> None:
        """Audit scan_finished, then mark the scan finished in the store."""
        self.event(SCAN_FINISHED, now, result="finished", detail=detail)
        self.store.finish_scan(self.run_id, now)

    def baseline(self, host: str, scan: PhaseResult | Mapping[str, Any], now: datetime) -> BaselineRecord:
        """A host's scan saved as its baseline, tagged with this scan's id (store only: the caller audits
        `baseline_recorded` first)."""
        return self.store.save_baseline(host, scan, now, run_id=self.run_id)
