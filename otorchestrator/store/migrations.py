"""Schema of the state store, one tuple of statements per version. Append; never edit a released one."""

from __future__ import annotations

V1: tuple[str, ...] = (
    """CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        status TEXT NOT NULL,
        record TEXT NOT NULL
    )""",
    """CREATE TABLE host_states (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        host TEXT NOT NULL,
        wave INTEGER NOT NULL,
        state TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (run_id, host)
    )""",
    """CREATE TABLE transitions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        host TEXT NOT NULL,
        wave INTEGER NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        phase TEXT,
        at TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX transitions_run_host ON transitions (run_id, host, id)",
    """CREATE TABLE phase_results (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        wave INTEGER NOT NULL,
        host TEXT NOT NULL,
        phase TEXT NOT NULL,
        ok INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        result TEXT NOT NULL
    )""",
    "CREATE INDEX phase_results_run_host ON phase_results (run_id, host, id)",
    """CREATE TABLE installed_patches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        asset TEXT NOT NULL,
        patch_id TEXT NOT NULL,
        package TEXT,
        from_version TEXT,
        to_version TEXT,
        run_id TEXT NOT NULL,
        operator TEXT NOT NULL,
        at TEXT NOT NULL
    )""",
    "CREATE INDEX installed_patches_asset ON installed_patches (asset, id)",
    """CREATE TABLE baselines (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        asset TEXT NOT NULL,
        at TEXT NOT NULL,
        run_id TEXT,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX baselines_asset ON baselines (asset, at, id)",
    """CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    )""",
)

# a rollback reverses an install: the row stays (history), marked with when and by which run
V2: tuple[str, ...] = (
    "ALTER TABLE installed_patches ADD COLUMN reversed_at TEXT",
    "ALTER TABLE installed_patches ADD COLUMN reversed_by_run TEXT",
    "ALTER TABLE installed_patches ADD COLUMN reversed_by TEXT",
)

# every task result as it arrives from the runner (task-level evidence that survives a kill -9);
# no module arguments or output, only names and statuses
V3: tuple[str, ...] = (
    """CREATE TABLE task_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        wave INTEGER NOT NULL,
        host TEXT NOT NULL,
        phase TEXT NOT NULL,
        task TEXT NOT NULL,
        status TEXT NOT NULL,
        changed INTEGER NOT NULL,
        at TEXT NOT NULL
    )""",
    "CREATE INDEX task_events_run_host ON task_events (run_id, host, id)",
)

# each time a wave of a run is started (again on resume) or refused by a halt
V4: tuple[str, ...] = (
    """CREATE TABLE waves (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        wave INTEGER NOT NULL,
        name TEXT NOT NULL,
        budget INTEGER NOT NULL,
        budget_counts_blocked INTEGER NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX waves_run ON waves (run_id, wave, id)",
)

# control state that lived only in the audit log before (store/backfill.py copies it over once): the waves
# a run was started with (JSON list; NULL: not known), and each soak of a wave with whether it finished
V5: tuple[str, ...] = (
    "ALTER TABLE runs ADD COLUMN waves TEXT",
    """CREATE TABLE soaks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        wave INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT NOT NULL,
        rounds INTEGER NOT NULL
    )""",
    "CREATE INDEX soaks_run ON soaks (run_id, wave, id)",
)

# scans (otorch scan, otorch drift): not runs (nothing to resume, report or lock), but their task events are
# stored as a run's are, keyed by the scan's id (store/scans.py); a store of V5 simply has none
V6: tuple[str, ...] = (
    """CREATE TABLE scans (
        scan_id TEXT PRIMARY KEY,
        operator TEXT NOT NULL,
        hosts TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT
    )""",
    """CREATE TABLE scan_task_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scan_id TEXT NOT NULL REFERENCES scans (scan_id),
        host TEXT NOT NULL,
        phase TEXT NOT NULL,
        task TEXT NOT NULL,
        status TEXT NOT NULL,
        changed INTEGER NOT NULL,
        at TEXT NOT NULL
    )""",
    "CREATE INDEX scan_task_events_scan_host ON scan_task_events (scan_id, host, id)",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (V1, V2, V3, V4, V5, V6)

# the version whose tables first hold what store/backfill.py copies from an older store's audit log
BACKFILLED_AT = 5
