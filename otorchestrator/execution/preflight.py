"""Before the first host starts: is there room to write what the run will write?

A run that cannot write its audit record, its store row or a host's backup stops half-way; checking free
space up front turns that into a refusal with nothing started. The figures are floors, not estimates of
the exact need: the state directory (SQLite store + audit log) needs `state_mb`; the backup store needs
`backup_mb_per_host` for every host of the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.execution.safety import SafetyProblem

MIB = 1024 * 1024
STATE_MIN_FREE_MB = 64
BACKUP_MB_PER_HOST = 50


@dataclass(frozen=True)
class SpaceNeed:
    label: str  # "state directory" | "backup store"
    path: Path
    need_mb: int


def _existing(path: Path) -> Path:
    """The nearest existing ancestor: a directory not made yet is on its parent's file system."""
    here = path.absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    return here


def space_problems(
    needs: list[SpaceNeed], free_bytes: Callable[[Path], int] | None = None
) -> list[SafetyProblem]:
    """One problem per location with less free space than needed, or not writable; values in MiB."""
    usage = free_bytes or (lambda p: shutil.disk_usage(p).free)
    problems: list[SafetyProblem] = []
    for need in needs:
        where = _existing(need.path)
        free_mb = usage(where) // MIB
        if free_mb < need.need_mb:
            problems.append(
                SafetyProblem(
                    check="free_space",
                    detail=(
                        f"{need.label} {need.path}: {free_mb} MiB free on {where}, needs {need.need_mb} MiB"
                    ),
                )
            )
        elif not os.access(where, os.W_OK):
            problems.append(
                SafetyProblem(check="free_space", detail=f"{need.label} {need.path}: not writable")
            )
    return problems


def run_space_needs(state_dir: Path, backup_dir: Path | None, hosts: int) -> list[SpaceNeed]:
    needs = [SpaceNeed("state directory", state_dir, STATE_MIN_FREE_MB)]
    if backup_dir is not None and hosts:
        if _existing(backup_dir).stat().st_dev == _existing(state_dir).stat().st_dev:  # one file system
            needs[0] = SpaceNeed("state directory", state_dir, STATE_MIN_FREE_MB + BACKUP_MB_PER_HOST * hosts)
        else:
            needs.append(SpaceNeed("backup store", backup_dir, BACKUP_MB_PER_HOST * hosts))
    return needs
