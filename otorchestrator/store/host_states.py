"""The `host_states` table (each host's current record in a run) and `transitions` (every move, in order)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from otorchestrator.models.results import Phase
from otorchestrator.models.run import HostState, HostStateRecord, Transition, can_transition
from otorchestrator.store.database import Database, ts
from otorchestrator.store.errors import IllegalTransition, StateConflict

# called with the host's current state once a move is validated, before it is written
BeforeWrite = Callable[[HostState | None], None]

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


def _for_host(before_write: Callable[[str], None] | None, host: str) -> BeforeWrite | None:
    if before_write is None:
        return None

    def call(_current: HostState | None) -> None:
        before_write(host)

    return call


class HostStateTables(Database):
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
        before_write: BeforeWrite | None = None,
    ) -> HostStateRecord:
        """Move `host` to `to_state`: validated with `can_transition`, written with its transition row in
        one transaction, durable when this returns.

        `expect`: the states the caller believes the host is in (None = not yet in the run); anything
        else raises `StateConflict`. `phase` defaults to the state's own phase, else the previous one.
        `backup_id` / `versions_*` update the host record when given. `before_write(current)`: called
        inside the transaction once the move is validated, before its rows are written (the journal's
        audit intent); if it raises, nothing is written.
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
                before_write,
            )

    def register_hosts(
        self,
        run_id: str,
        hosts: Mapping[str, int],
        now: datetime,
        state: HostState = HostState.PENDING,
        detail: str = "",
        before_write: Callable[[str], None] | None = None,
    ) -> list[HostStateRecord]:
        """Add hosts (host -> wave) to a run in their initial state, all in one transaction
        (`before_write(host)`: as for `transition`, before each host's rows)."""
        with self._tx() as conn:
            self._require_run(conn, run_id)
            marks = ", ".join("?" for _ in hosts)
            known = hosts and conn.execute(
                f"SELECT host, state FROM host_states WHERE run_id = ? AND host IN ({marks})",
                (run_id, *hosts),
            ).fetchone()
            if known:  # before any host's before_write: all or nothing, audit included
                raise StateConflict(run_id, known["host"], "(new)", HostState(known["state"]))
            return [
                self._transition(
                    conn,
                    run_id,
                    host,
                    wave,
                    state,
                    None,
                    detail,
                    now,
                    frozenset({None}),
                    None,
                    None,
                    None,
                    _for_host(before_write, host),
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
        before_write: BeforeWrite | None = None,
    ) -> HostStateRecord:
        at = ts(now)
        self._require_run(conn, run_id)
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
        if before_write is not None:
            before_write(current)
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
