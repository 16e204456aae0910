"""The `scans` table (one row per scan: `otorch scan`, `otorch drift`) and `scan_task_events` (every task
result of a scan as it arrived, keyed by the scan's id).

A scan is not a run: it has no hosts states, waves or phase results, nothing resumes, reports or locks
it, so it is kept out of `runs` (what status, report, resume and the run lock read). Its task events
are evidence like a run's, vouched for by the scan's `scan_result` audit records (store/journal_scan.py)
and checked by `otorch audit verify` (store/crosscheck_scans.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from otorchestrator.models.results import Phase
from otorchestrator.store.database import Database, ts
from otorchestrator.store.errors import RunExists, StoreError


@dataclass(frozen=True)
class ScanRecord:
    scan_id: str
    operator: str
    hosts: tuple[str, ...]
    started_at: datetime
    finished_at: datetime | None  # None: the scan stopped before its results were audited


@dataclass(frozen=True)
class ScanTaskEvent:
    """One task result of a scan, streamed from the runner while the scan ran."""

    scan_id: str
    host: str
    phase: Phase
    task: str
    status: str  # ok | failed | unreachable | skipped | timed_out
    changed: bool
    at: datetime


class ScanNotFound(StoreError, LookupError):
    def __init__(self, scan_id: str) -> None:
        super().__init__(f"no scan {scan_id!r} in the state store")
        self.scan_id = scan_id


class ScanTable(Database):
    def create_scan(self, scan_id: str, operator: str, hosts: Sequence[str], at: datetime) -> None:
        """A new scan, or `scan_id` scanned again (two checks in the same second share DRIFT-<time>): its
        hosts join the earlier ones' and it is unfinished until `finish_scan`, its events and results add
        to the id's as a resumed run's do. `RunExists` when a run has the id."""
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (scan_id,)).fetchone():
                raise RunExists(scan_id)
            row = conn.execute("SELECT hosts FROM scans WHERE scan_id = ?", (scan_id,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO scans (scan_id, operator, hosts, started_at, finished_at)"
                    " VALUES (?, ?, ?, ?, NULL)",
                    (scan_id, operator, json.dumps(list(hosts)), ts(at)),
                )
                return
            known = list(json.loads(row["hosts"]))
            joined = known + [h for h in hosts if h not in known]
            conn.execute(
                "UPDATE scans SET hosts = ?, finished_at = NULL WHERE scan_id = ?",
                (json.dumps(joined), scan_id),
            )

    def is_scan(self, scan_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM scans WHERE scan_id = ?", (scan_id,)))

    def finish_scan(self, scan_id: str, at: datetime) -> None:
        with self._tx() as conn:
            done = conn.execute("UPDATE scans SET finished_at = ? WHERE scan_id = ?", (ts(at), scan_id))
            if not done.rowcount:
                raise ScanNotFound(scan_id)

    def list_scans(self) -> list[ScanRecord]:
        rows = self._query("SELECT * FROM scans ORDER BY started_at, scan_id")
        return [
            ScanRecord(
                scan_id=r["scan_id"],
                operator=r["operator"],
                hosts=tuple(json.loads(r["hosts"])),
                started_at=datetime.fromisoformat(r["started_at"]),
                finished_at=datetime.fromisoformat(r["finished_at"]) if r["finished_at"] else None,
            )
            for r in rows
        ]

    def record_scan_task_event(
        self, scan_id: str, host: str, phase: Phase, task: str, status: str, changed: bool, at: datetime
    ) -> None:
        """One task result of a scan as it arrives (names and statuses only)."""
        with self._tx() as conn:
            if not conn.execute("SELECT 1 FROM scans WHERE scan_id = ?", (scan_id,)).fetchone():
                raise ScanNotFound(scan_id)
            conn.execute(
                "INSERT INTO scan_task_events (scan_id, host, phase, task, status, changed, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (scan_id, host, phase.value, task, status, int(changed), ts(at)),
            )

    def scan_task_events(self, scan_id: str, host: str | None = None) -> list[ScanTaskEvent]:
        sql, params = "SELECT * FROM scan_task_events WHERE scan_id = ?", [scan_id]
        if host is not None:
            sql += " AND host = ?"
            params.append(host)
        return [
            ScanTaskEvent(
                scan_id=r["scan_id"],
                host=r["host"],
                phase=Phase(r["phase"]),
                task=r["task"],
                status=r["status"],
                changed=bool(r["changed"]),
                at=datetime.fromisoformat(r["at"]),
            )
            for r in self._query(sql + " ORDER BY id", params)
        ]
