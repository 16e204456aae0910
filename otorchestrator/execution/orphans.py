"""After a crash: processes the dead orchestrator left behind (ansible-playbook keeps running when its
parent is killed with SIGKILL). Resume ends them (grace, SIGTERM, SIGKILL) before probing, so a probe never
races an install and a broken install is rolled back within minutes, not when someone kills it by hand."""

from __future__ import annotations

import os
import signal
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


DEFAULT_GRACE_S = 30.0


def orphan_grace_s(env: dict[str, str] | None = None) -> float:
    """The grace before a crashed run's processes are ended: $OTORCH_ORPHAN_GRACE_S, default 30 s."""
    raw = (os.environ if env is None else env).get("OTORCH_ORPHAN_GRACE_S", "")
    try:
        value = float(raw) if raw else DEFAULT_GRACE_S
    except ValueError:
        raise ValueError(f"OTORCH_ORPHAN_GRACE_S={raw!r}: expected a number of seconds") from None
    if value < 0:
        raise ValueError(f"OTORCH_ORPHAN_GRACE_S={raw!r}: expected seconds >= 0")
    return value


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:  # not ours to end: reported as a survivor by the caller
            pass


def end_orphans(
    marker: str,
    grace_s: float = 30.0,
    term_s: float = 10.0,
    poll_s: float = 0.5,
    notify: Callable[[str, list[int]], None] | None = None,
) -> list[int]:
    """End what a crashed run left behind instead of waiting on luck.

    Waits `grace_s` for processes mentioning `marker` to finish by themselves (an install that is about to
    complete is better finished than cut), then sends SIGTERM, waits `term_s`, then SIGKILL. Returns the pids
    that are still alive after all that (empty: gone). `notify(step, pids)` is told each step
    ("waiting", "terminating", "killing").
    """
    pids = processes_using(marker)
    if not pids:
        return []
    if notify is not None:
        notify("waiting", pids)
    pids = wait_for_orphans(marker, timeout_s=grace_s, poll_s=poll_s)
    for step, sig, wait_s in (("terminating", signal.SIGTERM, term_s), ("killing", signal.SIGKILL, term_s)):
        if not pids:
            return []
        if notify is not None:
            notify(step, pids)
        _signal(pids, sig)
        pids = wait_for_orphans(marker, timeout_s=wait_s, poll_s=min(poll_s, 0.1))
    return pids
