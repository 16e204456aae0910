"""After a crash: processes the dead orchestrator left behind (ansible-playbook keeps running when its
parent is killed with SIGKILL). Resume ends them (grace, SIGTERM, SIGKILL) before probing, so a probe never
races an install and a broken install is rolled back within minutes, not when someone kills it by hand.

A process belongs to a run when its environment carries ``OTORCH_RUN_ID=<run id>``: the local backend sets
it on every job, and every process of the job (ansible-playbook, its workers, ssh and ssh masters)
inherits it, whatever the job's directory is called."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

RUN_ID_ENV = "OTORCH_RUN_ID"
DEFAULT_GRACE_S = 30.0


def processes_with_env(name: str, value: str, proc: Path = Path("/proc")) -> list[int]:
    """Pids (not ours) whose environment holds ``name=value`` exactly."""
    needle = f"{name}={value}".encode()
    own = os.getpid()
    found: list[int] = []
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def run_processes(run_id: str) -> list[int]:
    """Pids of the processes of run `run_id` (its jobs and everything they started)."""
    return processes_with_env(RUN_ID_ENV, run_id) if run_id else []


def _wait_gone(find: Callable[[], list[int]], timeout_s: float, poll_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        pids = find()
        if not pids or time.monotonic() >= deadline:
            return pids
        time.sleep(poll_s)


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
    run_id: str,
    grace_s: float = DEFAULT_GRACE_S,
    term_s: float = 10.0,
    poll_s: float = 0.5,
    notify: Callable[[str, list[str]], None] | None = None,
) -> list[str]:
    """End what a crashed run left behind instead of waiting on luck.

    Waits `grace_s` for the processes of `run_id` to finish by themselves (an install that is about to
    complete is better finished than cut), then sends SIGTERM, waits `term_s`, then SIGKILL. Returns the pids
    (as text) still alive after all that (empty: gone). `notify(step, pids)` is told each step
    ("waiting", "terminating", "killing").
    """

    def find() -> list[int]:
        return run_processes(run_id)

    pids = find()
    if not pids:
        return []
    if notify is not None:
        notify("waiting", [str(p) for p in pids])
    pids = _wait_gone(find, grace_s, poll_s)
    for step, sig in (("terminating", signal.SIGTERM), ("killing", signal.SIGKILL)):
        if not pids:
            return []
        if notify is not None:
            notify(step, [str(p) for p in pids])
        _signal(pids, sig)
        pids = _wait_gone(find, term_s, min(poll_s, 0.1))
    return [str(p) for p in pids]
