"""The `runs` table (one row per run, its `RunRecord` as JSON) and the run lock beside the database."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from otorchestrator.models.run import RunRecord, RunStatus
from otorchestrator.store.database import Database, ts
from otorchestrator.store.errors import LockHolder, RunExists, RunNotFound
from otorchestrator.store.lock import RunLock, acquire_lock, current_holder


class RunTable(Database):
    # -- the run lock ----------------------------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def lock(self, run_id: str, operator: str, now: datetime) -> RunLock:
        """Take the store's run lock (also a context manager); raises `RunLocked` naming the holder."""
        return acquire_lock(self.lock_path, operator=operator, run_id=run_id, now=now)

    def lock_holder(self) -> LockHolder | None:
        """Who holds the run lock right now (None if free)."""
        return current_holder(self.lock_path)

    # -- runs ------------------------------------------------------------------------------------

    def create_run(self, record: RunRecord, waves: Iterable[int] | None = None) -> RunRecord:
        """`waves`: the waves the run is started with (what `run_waves` answers on resume)."""
        listed = None if waves is None else json.dumps(sorted(waves))
        with self._tx() as conn:
            if self._id_taken(conn, record.run_id):  # a run's or a scan's (one id space in the audit)
                raise RunExists(record.run_id)
            conn.execute(
                "INSERT INTO runs (run_id, started_at, status, record, waves) VALUES (?, ?, ?, ?, ?)",
                (record.run_id, ts(record.started_at), record.status.value, record.model_dump_json(), listed),
            )
        return record

    def is_run(self, run_id: str) -> bool:
        """A run has this id (a scan's id is not a run's: store/scans.py)."""
        return bool(self._query("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)))

    def run_waves(self, run_id: str) -> set[int] | None:
        """The waves the run was started with (None: not recorded, a run created without them)."""
        rows = self._query("SELECT waves FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise RunNotFound(run_id)
        listed = rows[0]["waves"]
        return None if listed is None else {int(i) for i in json.loads(listed)}

    def get_run(self, run_id: str) -> RunRecord:
        rows = self._query("SELECT record FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise RunNotFound(run_id)
        return RunRecord.model_validate_json(rows[0]["record"])

    def list_runs(self, status: RunStatus | None = None) -> list[RunRecord]:
        """Oldest first."""
        if status is None:
            rows = self._query("SELECT record FROM runs ORDER BY started_at, run_id")
        else:
            rows = self._query(
                "SELECT record FROM runs WHERE status = ? ORDER BY started_at, run_id", (status.value,)
            )
        return [RunRecord.model_validate_json(r["record"]) for r in rows]

    def latest_run(self) -> RunRecord | None:
        runs = self.list_runs()
        return runs[-1] if runs else None

    def set_run_status(self, run_id: str, status: RunStatus, now: datetime, detail: str = "") -> RunRecord:
        with self._tx() as conn:
            row = conn.execute("SELECT record FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFound(run_id)
            old = RunRecord.model_validate_json(row["record"])
            new = old.model_copy(
                update={
                    "status": status,
                    "status_detail": detail,
                    "finished_at": now if status.final else None,
                }
            )
            ts(now)
            conn.execute(
                "UPDATE runs SET status = ?, record = ? WHERE run_id = ?",
                (status.value, new.model_dump_json(), run_id),
            )
        return new
