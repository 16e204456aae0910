"""The state store: runs, host states and their transitions, phase results, patch history, baselines.

SQLite in WAL mode with synchronous=FULL: every method commits (durably) before it returns, so a
transition is on disk before the action it starts. Time is always passed in.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import (
    AuditHead,
    BaselineRecord,
    HostState,
    HostStateRecord,
    InstalledPatchRecord,
    PhaseResultRecord,
    RunRecord,
    RunStatus,
    Transition,
    can_transition,
)
from otorchestrator.store.errors import (
    IllegalTransition,
    LockHolder,
    RunExists,
    RunNotFound,
    SchemaError,
    StateConflict,
    StoreError,
)
from otorchestrator.store.lock import RunLock, acquire_lock, current_holder
from otorchestrator.store.migrations import MIGRATIONS

# the phase a state belongs to, when the caller does not name one
_STATE_PHASE: dict[HostState, Phase] = {
    HostState.DIAGNOSING: Phase.DIAGNOSTICS,
    HostState.BACKING_UP: Phase.BACKUP,
    HostState.INSTALLING: Phase.INSTALL,
    HostState.VERIFYING: Phase.VERIFY,
    HostState.ROLLING_BACK: Phase.ROLLBACK,
}

# entering these states counts an attempt
_ATTEMPT_FIELD: dict[HostState, str] = {
    HostState.DIAGNOSING: "diagnose_attempts",
    HostState.INSTALLING: "install_attempts",
    HostState.VERIFYING: "verify_attempts",
    HostState.ROLLING_BACK: "rollback_attempts",
}


@dataclass(frozen=True)
class TaskEventRecord:
    """One task result streamed from the runner while its phase ran."""

    run_id: str
    wave: int
    host: str
    phase: Phase
    task: str
    status: str  # ok | failed | unreachable | skipped | timed_out
    changed: bool
    at: datetime


@dataclass(frozen=True)
class WaveRecord:
    """One start of a wave of a run (a resumed run starts a wave again), or its refusal by a halt."""

    run_id: str
    wave: int
    name: str
    budget: int
    budget_counts_blocked: bool
    started_at: datetime | None  # None: never started (the run had halted)
    finished_at: datetime | None
    outcome: str  # running | completed | halted | aborted
    detail: str


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass timezone-aware times")
    return moment.astimezone(UTC).isoformat()


class StateStore:
    """One SQLite database per state directory (see `StatePaths.db`). Safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._mutex = threading.RLock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._mutex:
            return list(self._conn.execute(sql, tuple(params)))

    def _migrate(self) -> None:
        with self._tx() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            current = int(row[0]) if row[0] is not None else 0
            if current > len(MIGRATIONS):
                raise SchemaError(
                    f"{self.path}: schema version {current} is newer than this otorchestrator "
                    f"knows ({len(MIGRATIONS)})"
                )
            for version, statements in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    @property
    def schema_version(self) -> int:
        return int(self._query("SELECT max(version) FROM schema_version")[0][0])

    def journal_mode(self) -> str:
        return str(self._query("PRAGMA journal_mode")[0][0])

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

    def create_run(self, record: RunRecord) -> RunRecord:
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (record.run_id,)).fetchone():
                raise RunExists(record.run_id)
            conn.execute(
                "INSERT INTO runs (run_id, started_at, status, record) VALUES (?, ?, ?, ?)",
                (record.run_id, _ts(record.started_at), record.status.value, record.model_dump_json()),
            )
        return record

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
            _ts(now)
            conn.execute(
                "UPDATE runs SET status = ?, record = ? WHERE run_id = ?",
                (status.value, new.model_dump_json(), run_id),
            )
        return new

    # -- host states -----------------------------------------------------------------------------

    def transition(
        self,
        run_id: str,
        host: str,
        wave: int,
        to_state: HostState,
        phase: Phase | None = None,
        detail: str = "",
        *,
        now: datetime,
        expect: Iterable[HostState | None] | None = None,
        backup_id: str | None = None,
        versions_before: Mapping[str, str] | None = None,
        versions_after: Mapping[str, str] | None = None,
    ) -> HostStateRecord:
        """Move `host` to `to_state`: validated with `can_transition`, written with its transition row in
        one transaction, durable when this returns.

        `expect`: the states the caller believes the host is in (None = not yet in the run); anything
        else raises `StateConflict`. `phase` defaults to the state's own phase, else the previous one.
        `backup_id` / `versions_*` update the host record when given.
        Raises `RunNotFound`, `IllegalTransition`, `StateConflict`.
        """
        with self._tx() as conn:
            return self._transition(
                conn,
                run_id,
                host,
                wave,
                to_state,
                phase,
                detail,
                now,
                None if expect is None else frozenset(expect),
                backup_id,
                versions_before,
                versions_after,
            )

    def register_hosts(
        self,
        run_id: str,
        hosts: Mapping[str, int],
        now: datetime,
        state: HostState = HostState.PENDING,
        detail: str = "",
    ) -> list[HostStateRecord]:
        """Add hosts (host -> wave) to a run in their initial state, all in one transaction."""
        with self._tx() as conn:
            return [
                self._transition(
                    conn, run_id, host, wave, state, None, detail, now, frozenset({None}), None, None, None
                )
                for host, wave in hosts.items()
            ]

    def _transition(
        self,
        conn: sqlite3.Connection,
        run_id: str,
        host: str,
        wave: int,
        to_state: HostState,
        phase: Phase | None,
        detail: str,
        now: datetime,
        expect: frozenset[HostState | None] | None,
        backup_id: str | None,
        versions_before: Mapping[str, str] | None,
        versions_after: Mapping[str, str] | None,
    ) -> HostStateRecord:
        at = _ts(now)
        if not conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
            raise RunNotFound(run_id)
        row = conn.execute(
            "SELECT record FROM host_states WHERE run_id = ? AND host = ?", (run_id, host)
        ).fetchone()
        old = HostStateRecord.model_validate_json(row["record"]) if row else None
        current = old.state if old else None
        if expect is not None and current not in expect:
            expected = ", ".join(sorted(str(s) for s in expect))
            raise StateConflict(run_id, host, expected, current)
        if not can_transition(current, to_state):
            raise IllegalTransition(run_id, host, current, to_state)
        effective_phase = phase or _STATE_PHASE.get(to_state) or (old.phase if old else None)
        update: dict[str, Any] = {
            "wave": wave,
            "state": to_state,
            "phase": effective_phase,
            "updated_at": now,
            "detail": detail,
        }
        if backup_id is not None:
            update["backup_id"] = backup_id
        if versions_before is not None:
            update["versions_before"] = dict(versions_before)
        if versions_after is not None:
            update["versions_after"] = dict(versions_after)
        base = old or HostStateRecord(run_id=run_id, wave=wave, host=host, state=to_state, updated_at=now)
        counter = _ATTEMPT_FIELD.get(to_state)
        if counter is not None:
            update[counter] = getattr(base, counter) + 1
        new = base.model_copy(update=update)
        new = HostStateRecord.model_validate(new.model_dump())  # re-validate the merged record
        conn.execute(
            "INSERT INTO transitions (run_id, host, wave, from_state, to_state, phase, at, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                host,
                wave,
                current.value if current else None,
                to_state.value,
                effective_phase.value if effective_phase else None,
                at,
                detail,
            ),
        )
        conn.execute(
            "INSERT INTO host_states (run_id, host, wave, state, updated_at, record)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (run_id, host) DO UPDATE SET wave = excluded.wave, state = excluded.state,"
            " updated_at = excluded.updated_at, record = excluded.record",
            (run_id, host, wave, to_state.value, at, new.model_dump_json()),
        )
        return new

    def host_states(self, run_id: str) -> dict[str, HostStateRecord]:
        """host -> record, ordered by wave then host."""
        rows = self._query("SELECT record FROM host_states WHERE run_id = ? ORDER BY wave, host", (run_id,))
        records = [HostStateRecord.model_validate_json(r["record"]) for r in rows]
        return {r.host: r for r in records}

    def host_state(self, run_id: str, host: str) -> HostStateRecord | None:
        rows = self._query("SELECT record FROM host_states WHERE run_id = ? AND host = ?", (run_id, host))
        return HostStateRecord.model_validate_json(rows[0]["record"]) if rows else None

    def _run_rows(
        self, table: Literal["transitions", "task_events"], run_id: str, host: str | None
    ) -> list[sqlite3.Row]:
        """Rows of `table` of one run, of one host if given, in written order."""
        sql = f"SELECT * FROM {table} WHERE run_id = ?"
        params: list[Any] = [run_id]
        if host is not None:
            sql += " AND host = ?"
            params.append(host)
        return self._query(sql + " ORDER BY id", params)

    def transitions(self, run_id: str, host: str | None = None) -> list[Transition]:
        """In the order they were written."""
        rows = self._run_rows("transitions", run_id, host)
        return [
            Transition(
                run_id=r["run_id"],
                host=r["host"],
                wave=r["wave"],
                from_state=HostState(r["from_state"]) if r["from_state"] else None,
                to_state=HostState(r["to_state"]),
                phase=Phase(r["phase"]) if r["phase"] else None,
                at=datetime.fromisoformat(r["at"]),
                detail=r["detail"],
            )
            for r in rows
        ]

    # -- phase results ---------------------------------------------------------------------------

    def record_phase_result(
        self, run_id: str, wave: int, result: PhaseResult, started_at: datetime, finished_at: datetime
    ) -> PhaseResultRecord:
        record = PhaseResultRecord(
            run_id=run_id, wave=wave, started_at=started_at, finished_at=finished_at, result=result
        )
        with self._tx() as conn:
            if not conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
                raise RunNotFound(run_id)
            conn.execute(
                "INSERT INTO phase_results (run_id, wave, host, phase, ok, outcome, started_at, finished_at,"
                " result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    wave,
                    result.host,
                    result.phase.value,
                    int(result.ok),
                    result.outcome.value,
                    _ts(started_at),
                    _ts(finished_at),
                    result.model_dump_json(by_alias=True),
                ),
            )
        return record

    def phase_results(
        self, run_id: str, host: str | None = None, phase: Phase | None = None
    ) -> list[PhaseResultRecord]:
        sql = "SELECT * FROM phase_results WHERE run_id = ?"
        params: list[Any] = [run_id]
        if host is not None:
            sql += " AND host = ?"
            params.append(host)
        if phase is not None:
            sql += " AND phase = ?"
            params.append(phase.value)
        rows = self._query(sql + " ORDER BY id", params)
        return [
            PhaseResultRecord(
                run_id=r["run_id"],
                wave=r["wave"],
                started_at=datetime.fromisoformat(r["started_at"]),
                finished_at=datetime.fromisoformat(r["finished_at"]),
                result=PhaseResult.model_validate_json(r["result"]),
            )
            for r in rows
        ]

    # -- installed-patch history -----------------------------------------------------------------

    def record_installed_patch(
        self,
        asset: str,
        patch_id: str,
        package: str | None,
        from_version: str | None,
        to_version: str | None,
        run_id: str,
        operator: str,
        at: datetime,
    ) -> InstalledPatchRecord:
        record = InstalledPatchRecord(
            asset=asset,
            patch_id=patch_id,
            package=package,
            from_version=from_version,
            to_version=to_version,
            run_id=run_id,
            operator=operator,
            at=at,
        )
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO installed_patches (asset, patch_id, package, from_version, to_version, run_id,"
                " operator, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (asset, patch_id, package, from_version, to_version, run_id, operator, _ts(at)),
            )
        return record

    def patch_history(
        self, asset: str | None = None, *, include_reversed: bool = False
    ) -> list[InstalledPatchRecord]:
        """Oldest first; every asset when `asset` is None. Only effective installs (not reversed by a
        rollback) unless `include_reversed`."""
        sql = "SELECT * FROM installed_patches"
        where: list[str] = []
        params: list[Any] = []
        if asset is not None:
            where.append("asset = ?")
            params.append(asset)
        if not include_reversed:
            where.append("reversed_at IS NULL")
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._query(sql + " ORDER BY id", params)
        return [installed_record(r) for r in rows]

    def reverse_installed_patches(
        self,
        asset: str,
        run_id: str,
        by_run: str,
        operator: str,
        at: datetime,
        patch_ids: Iterable[str] | None = None,
    ) -> list[str]:
        """Mark the effective installs of `asset` recorded by run `run_id` as reversed (a rollback to the
        backup taken before them) by run `by_run`; `patch_ids` narrows them. Returns the patch ids marked."""
        wanted = None if patch_ids is None else set(patch_ids)
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, patch_id FROM installed_patches"
                " WHERE asset = ? AND run_id = ? AND reversed_at IS NULL ORDER BY id",
                (asset, run_id),
            ).fetchall()
            marked = [r for r in rows if wanted is None or r["patch_id"] in wanted]
            for r in marked:
                conn.execute(
                    "UPDATE installed_patches SET reversed_at = ?, reversed_by_run = ?, reversed_by = ?"
                    " WHERE id = ?",
                    (_ts(at), by_run, operator, r["id"]),
                )
        return [str(r["patch_id"]) for r in marked]

    def reversed_patches(self, asset: str | None = None) -> list[tuple[InstalledPatchRecord, str, datetime]]:
        """(install, reversed by run, reversed at) for every install a rollback reversed, oldest first."""
        sql = "SELECT * FROM installed_patches WHERE reversed_at IS NOT NULL"
        params: list[Any] = []
        if asset is not None:
            sql += " AND asset = ?"
            params.append(asset)
        rows = self._query(sql + " ORDER BY id", params)
        return [
            (
                installed_record(r),
                str(r["reversed_by_run"]),
                datetime.fromisoformat(r["reversed_at"]),
            )
            for r in rows
        ]

    # -- task events (streamed while a phase runs) -------------------------------------------------

    def record_task_event(
        self,
        run_id: str,
        wave: int,
        host: str,
        phase: Phase,
        task: str,
        status: str,
        changed: bool,
        at: datetime,
    ) -> None:
        """One task result as it arrives (names and statuses only: no module arguments, no output)."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO task_events (run_id, wave, host, phase, task, status, changed, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, wave, host, phase.value, task, status, int(changed), _ts(at)),
            )

    def task_events(self, run_id: str, host: str | None = None) -> list[TaskEventRecord]:
        rows = self._run_rows("task_events", run_id, host)
        return [
            TaskEventRecord(
                run_id=r["run_id"],
                wave=r["wave"],
                host=r["host"],
                phase=Phase(r["phase"]),
                task=r["task"],
                status=r["status"],
                changed=bool(r["changed"]),
                at=datetime.fromisoformat(r["at"]),
            )
            for r in rows
        ]

    # -- waves -------------------------------------------------------------------------------------

    def wave_started(
        self,
        run_id: str,
        wave: int,
        name: str,
        budget: int,
        budget_counts_blocked: bool,
        at: datetime | None,
        outcome: str = "running",
        detail: str = "",
    ) -> int:
        """A wave starts (or, with `at=None`, is refused before starting): returns the row id."""
        with self._tx() as conn:
            if not conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
                raise RunNotFound(run_id)
            cur = conn.execute(
                "INSERT INTO waves (run_id, wave, name, budget, budget_counts_blocked, started_at,"
                " finished_at, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    wave,
                    name,
                    budget,
                    int(budget_counts_blocked),
                    _ts(at) if at is not None else None,
                    None,
                    outcome,
                    detail,
                ),
            )
            return int(cur.lastrowid or 0)

    def wave_finished(self, row_id: int, at: datetime, outcome: str, detail: str = "") -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE waves SET finished_at = ?, outcome = ?, detail = ? WHERE id = ?",
                (_ts(at), outcome, detail, row_id),
            )

    def waves(self, run_id: str) -> list[WaveRecord]:
        rows = self._query("SELECT * FROM waves WHERE run_id = ? ORDER BY id", (run_id,))
        return [
            WaveRecord(
                run_id=r["run_id"],
                wave=r["wave"],
                name=r["name"],
                budget=r["budget"],
                budget_counts_blocked=bool(r["budget_counts_blocked"]),
                started_at=datetime.fromisoformat(r["started_at"]) if r["started_at"] else None,
                finished_at=datetime.fromisoformat(r["finished_at"]) if r["finished_at"] else None,
                outcome=r["outcome"],
                detail=r["detail"],
            )
            for r in rows
        ]

    # -- baselines -------------------------------------------------------------------------------

    def save_baseline(
        self, asset: str, scan: PhaseResult | Mapping[str, Any], at: datetime, run_id: str | None = None
    ) -> BaselineRecord:
        data = scan.model_dump(mode="json", by_alias=True) if isinstance(scan, PhaseResult) else dict(scan)
        record = BaselineRecord(asset=asset, at=at, data=data, run_id=run_id)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO baselines (asset, at, run_id, data) VALUES (?, ?, ?, ?)",
                (asset, _ts(at), run_id, json.dumps(data, sort_keys=True)),
            )
        return record

    def latest_baseline(self, asset: str) -> BaselineRecord | None:
        rows = self._query(
            "SELECT * FROM baselines WHERE asset = ? ORDER BY at DESC, id DESC LIMIT 1", (asset,)
        )
        if not rows:
            return None
        r = rows[0]
        return BaselineRecord(
            asset=r["asset"],
            at=datetime.fromisoformat(r["at"]),
            data=json.loads(r["data"]),
            run_id=r["run_id"],
        )

    # -- audit chain head ------------------------------------------------------------------------

    def set_audit_head(self, head: AuditHead) -> None:
        """Called by the audit log after each durable append."""
        with self._tx() as conn:
            row = conn.execute("SELECT seq FROM audit_head WHERE id = 1").fetchone()
            if row is not None and int(row["seq"]) > head.seq:
                raise StoreError(f"audit head would move backwards: {row['seq']} -> {head.seq}")
            conn.execute(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                (head.seq, head.hash),
            )

    def audit_head(self) -> AuditHead | None:
        rows = self._query("SELECT seq, hash FROM audit_head WHERE id = 1")
        return AuditHead(seq=int(rows[0]["seq"]), hash=rows[0]["hash"]) if rows else None


def installed_record(r: sqlite3.Row) -> InstalledPatchRecord:
    """An installed_patches row as its record (the store's and the history queries' one mapping)."""
    return InstalledPatchRecord(
        asset=r["asset"],
        patch_id=r["patch_id"],
        package=r["package"],
        from_version=r["from_version"],
        to_version=r["to_version"],
        run_id=r["run_id"],
        operator=r["operator"],
        at=datetime.fromisoformat(r["at"]),
    )
