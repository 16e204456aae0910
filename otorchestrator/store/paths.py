"""Where runtime state lives. One definition for everyone: store, audit, backups, runner dirs, reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "OTORCH_STATE_DIR"
DEFAULT_STATE_DIR = Path(".otorch")


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @classmethod
    def resolve(cls, state_dir: Path | str | None = None, env: Mapping[str, str] | None = None) -> StatePaths:
        """`state_dir` if given, else `$OTORCH_STATE_DIR` from `env`, else `./.otorch`."""
        if state_dir is not None:
            return cls(Path(state_dir))
        from_env = (env or {}).get(ENV_VAR)
        return cls(Path(from_env) if from_env else DEFAULT_STATE_DIR)

    def missing_store(self) -> str | None:
        """The error for a command that reads a run when there is no store here (None when there is one).
        Every such command exits 2 with it (`otorch status`, `report`, `audit verify`)."""
        if self.db.exists():
            return None
        return (
            f"no state store at {self.db}: runs are recorded in --state-dir, else $OTORCH_STATE_DIR, else "
            f"./.otorch of the directory the run started in (`make demo` uses the checkout's .otorch)"
        )

    @property
    def db(self) -> Path:
        return self.root / "state.db"

    @property
    def lock(self) -> Path:
        return self.root / "state.db.lock"

    @property
    def audit(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def runner(self) -> Path:
        return self.root / "runner"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def runner_dir(self, run_id: str, label: str) -> Path:
        """A fresh private_data_dir per phase invocation: never reuse one."""
        return self.runner / run_id / label

    def ensure(self) -> StatePaths:
        for directory in (self.root, self.backups, self.runner, self.reports):
            directory.mkdir(parents=True, exist_ok=True)
        return self
