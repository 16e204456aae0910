"""The `soaks` table: each soak (bake time) of a wave of a run, and whether it finished. A run killed during
a soak leaves a row without `finished_at`: resume soaks that wave again before any later wave starts."""

from __future__ import annotations

from datetime import datetime

from otorchestrator.store.database import Database, ts


class SoakTable(Database):
    def soak_started(self, run_id: str, wave: int, at: datetime) -> int:
        """Returns the soak's row id."""
        with self._tx() as conn:
            self._require_run(conn, run_id)
            cur = conn.execute(
                "INSERT INTO soaks (run_id, wave, started_at, finished_at, outcome, rounds)"
                " VALUES (?, ?, ?, NULL, 'running', 0)",
                (run_id, wave, ts(at)),
            )
            return int(cur.lastrowid or 0)

    def soak_finished(self, row_id: int, at: datetime, outcome: str, rounds: int) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE soaks SET finished_at = ?, outcome = ?, rounds = ? WHERE id = ?",
                (ts(at), outcome, rounds, row_id),
            )

    def unfinished_soaks(self, run_id: str) -> set[int]:
        """Waves of the run whose last soak started and never finished (the run stopped during it)."""
        rows = self._query(
            "SELECT wave, finished_at FROM soaks WHERE id IN"
            " (SELECT max(id) FROM soaks WHERE run_id = ? GROUP BY wave)",
            (run_id,),
        )
        return {int(r["wave"]) for r in rows if r["finished_at"] is None}
