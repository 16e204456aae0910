"""The abort-flag protocol between `otorch abort` and a live run: the abort command writes
`<state>/runs/<run>/abort-requested` (the operator's name in it); the live run polls for the file before
each new host step; `resume` removes it before going on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from otorchestrator.store.paths import StatePaths

FLAG = "abort-requested"


def run_dir(paths: StatePaths, run_id: str) -> Path:
    """Where a run's own files are kept (its wave plan and plan copies, the abort flag)."""
    return paths.root / "runs" / run_id


def abort_flag(paths: StatePaths, run_id: str) -> Path:
    return run_dir(paths, run_id) / FLAG


def request_abort(paths: StatePaths, run_id: str, operator: str) -> None:
    flag = abort_flag(paths, run_id)
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text(f"{operator}\n", encoding="utf-8")


def abort_poll(paths: StatePaths, run_id: str) -> Callable[[], bool]:
    """What the live run asks before each step: has an operator asked it to stop?"""
    flag = abort_flag(paths, run_id)

    def requested() -> bool:
        return flag.exists()

    return requested


def clear_abort(paths: StatePaths, run_id: str) -> None:
    abort_flag(paths, run_id).unlink(missing_ok=True)
