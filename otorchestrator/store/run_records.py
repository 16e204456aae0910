"""What a run leaves besides host states: `phase_results` (each host's result of each phase), `task_events`
(every task result as it arrived from the runner) and `waves` (each start of a wave, or its refusal)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import PhaseResultRecord
from otorchestrator.store.database import Database, ts


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


class RunRecordTables(Database):
    # -- phase results ---------------------------------------------------------------------------

    def record_phase_result(
        self, run_id: str, wave: int, result: PhaseResult, started_at: datetime, finished_at: datetime
    ) -> PhaseResultRecord:
        record = PhaseResultRecord(
            run_id=run_id, wave=wave, started_at=started_at, finished_at=finished_at, result=result
        )
        with self._tx() as conn:
            self._require_run(conn, run_id)
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
                    ts(started_at),
                    ts(finished_at),
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
                (run_id, wave, host, phase.value, task, status, int(changed), ts(at)),
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
            self._require_run(conn, run_id)
            cur = conn.execute(
                "INSERT INTO waves (run_id, wave, name, budget, budget_counts_blocked, started_at,"
                " finished_at, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    wave,
                    name,
                    budget,
                    int(budget_counts_blocked),
                    ts(at) if at is not None else None,
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
                (ts(at), outcome, detail, row_id),
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
