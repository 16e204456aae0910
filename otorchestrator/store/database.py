"""The SQLite database under the state store: connection, transactions, schema migration.

WAL mode with synchronous=FULL: every write transaction commits durably before it returns, so a
transition is on disk before the action it starts. The table modules (`runs`, `host_states`,
`run_records`, `patches`, `baselines`) build on `Database`; `state.StateStore` combines them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from otorchestrator.store.backfill import AUDIT_FILE, backfill
from otorchestrator.store.errors import RunNotFound, SchemaError
from otorchestrator.store.migrations import BACKFILLED_AT, MIGRATIONS


def ts(moment: datetime) -> str:
    """A timezone-aware time as the stored text (UTC ISO 8601); naive times are refused."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass timezone-aware times")
    return moment.astimezone(UTC).isoformat()


class Database:
    """One SQLite database file. Safe to share between threads (one connection behind a re-entrant lock)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._mutex = threading.RLock()
        self._depth = 0  # open transactions of the thread holding the mutex (a nested one joins the outer)
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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; one opened inside another (the audit head written while a transition's
        audit record is appended) is part of the outer one and commits or rolls back with it."""
        with self._mutex:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    def locked(self) -> AbstractContextManager[bool]:
        """The store's lock held around something that writes here from inside another lock (the journal's
        audit append, which stores the chain head under the audit log's lock): taking the store's first,
        everywhere, keeps threads from waiting on each other in opposite orders."""
        return self._mutex

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._mutex:
            return list(self._conn.execute(sql, tuple(params)))

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

    @staticmethod
    def _require_run(conn: sqlite3.Connection, run_id: str) -> None:
        if not conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
            raise RunNotFound(run_id)

    @staticmethod
    def _id_taken(conn: sqlite3.Connection, run_id: str) -> bool:
        """A run or a scan (store/scans.py) has this id: both are the audit records' run id."""
        sql = "SELECT 1 FROM runs WHERE run_id = ? UNION ALL SELECT 1 FROM scans WHERE scan_id = ?"
        return conn.execute(sql, (run_id, run_id)).fetchone() is not None

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
            if 0 < current < BACKFILLED_AT:  # an existing store: its control state was in the audit log
                backfill(conn, self.path.with_name(AUDIT_FILE))

    @property
    def schema_version(self) -> int:
        return int(self._query("SELECT max(version) FROM schema_version")[0][0])

    def journal_mode(self) -> str:
        return str(self._query("PRAGMA journal_mode")[0][0])
