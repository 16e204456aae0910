"""After a crash: processes the dead orchestrator left behind (ansible-playbook keeps running when its
parent is killed with SIGKILL). Resume waits for them before probing, so a probe never races an install."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def processes_using(marker: str, proc: Path = Path("/proc")) -> list[int]:
    """Pids whose command line or working directory mentions `marker` (e.g. a run's runner directory)."""
    found: list[int] = []
    own = os.getpid()
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd") if marker not in cmdline else ""
        except OSError:
            continue
        if marker in cmdline or marker in cwd:
            found.append(int(entry.name))
    return found


def wait_for_orphans(
    marker: str,
    timeout_s: float = 600.0,
    poll_s: float = 1.0,
    notify: Callable[[list[int]], None] | None = None,
) -> list[int]:
    """Wait until no process mentions `marker`; returns the pids still alive at the timeout (empty: gone)."""
    deadline = time.monotonic() + timeout_s
    told = False
    while True:
        pids = processes_using(marker)
        if not pids or time.monotonic() >= deadline:
            return pids
        if notify is not None and not told:
            notify(pids)
            told = True
        time.sleep(poll_s)
