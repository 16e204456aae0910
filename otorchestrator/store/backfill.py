"""Once, when a store made before schema 5 is opened: the control state that only its audit log held is
copied into the store, so that resuming a run it recorded decides from the store like any other.

What is copied: the waves each run was started with (`run_started` detail `waves`, into `runs.waves`) and
each soak of a wave (`soak_started` / `soak_finished`, into `soaks`). Nothing reads the audit log for these
afterwards. The audit log is the one beside the database (`StatePaths`); without one nothing is copied and
a run's waves are unknown (resume then takes every wave of the plan, as before).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC
from pathlib import Path

from otorchestrator.models.run import AuditKind
from otorchestrator.store.audit_verify import read_events

AUDIT_FILE = "audit.jsonl"  # StatePaths.audit, beside StatePaths.db
SOAK_STARTED = "soak_started"
SOAK_FINISHED = "soak_finished"


def backfill(conn: sqlite3.Connection, audit: Path) -> None:
    """Copy the runs' waves and soaks from `audit` (inside the migration's transaction)."""
    runs = {str(r[0]) for r in conn.execute("SELECT run_id FROM runs")}
    for _, event in read_events(audit):
        run_id = event.run_id
        if run_id not in runs:
            continue
        at = event.at.astimezone(UTC).isoformat()
        if event.kind == AuditKind.RUN_STARTED and "waves" in event.detail:
            waves = sorted(int(i) for i in event.detail["waves"])
            conn.execute(
                "UPDATE runs SET waves = ? WHERE run_id = ? AND waves IS NULL", (json.dumps(waves), run_id)
            )
        elif event.kind == SOAK_STARTED and event.wave is not None:
            conn.execute(
                "INSERT INTO soaks (run_id, wave, started_at, finished_at, outcome, rounds)"
                " VALUES (?, ?, ?, NULL, 'running', 0)",
                (run_id, event.wave, at),
            )
        elif event.kind == SOAK_FINISHED and event.wave is not None:
            rounds = event.detail.get("rounds", 0)
            conn.execute(
                "UPDATE soaks SET finished_at = ?, outcome = ?, rounds = ? WHERE id = (SELECT max(id)"
                " FROM soaks WHERE run_id = ? AND wave = ? AND finished_at IS NULL)",
                (at, event.result or "ok", int(rounds) if isinstance(rounds, int) else 0, run_id, event.wave),
            )
