"""The run lock: one run at a time per state store, across processes.

An OS lock (`fcntl.flock` on `<store>.lock`) so a holder killed with SIGKILL frees it with its last file
descriptor. Who holds it is written into the lock file for the refusal message; a clean release empties
the file, so holder info found on acquire names a previous holder that crashed.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType

from otorchestrator.store.errors import LockHolder, RunLocked

_READ_RETRIES = 10
_READ_PAUSE_S = 0.02


def _decode(raw: bytes) -> LockHolder | None:
    try:
        data = json.loads(raw.decode())
        return LockHolder(
            operator=str(data["operator"]),
            run_id=str(data["run_id"]),
            pid=int(data["pid"]),
            hostname=str(data["hostname"]),
            since=datetime.fromisoformat(data["since"]),
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _encode(holder: LockHolder) -> bytes:
    data = {
        "operator": holder.operator,
        "run_id": holder.run_id,
        "pid": holder.pid,
        "hostname": holder.hostname,
        "since": holder.since.isoformat(),
    }
    return json.dumps(data, sort_keys=True).encode() + b"\n"


def read_holder_info(path: Path) -> LockHolder | None:
    """What the lock file says (the holder, or a crashed previous holder); does not test the lock."""
    for _ in range(_READ_RETRIES):  # a new holder may be between truncate and write
        try:
            holder = _decode(path.read_bytes())
        except FileNotFoundError:
            return None
        if holder is not None:
            return holder
        time.sleep(_READ_PAUSE_S)
    return None


class RunLock:
    """A held run lock. Use as a context manager or call `release()`; releasing twice is harmless."""

    def __init__(self, path: Path, fd: int, holder: LockHolder, previous: LockHolder | None) -> None:
        self.path = path
        self.holder = holder
        self.previous = previous  # holder info left by a run that did not release (crashed)
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            os.fsync(fd)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def acquire_lock(path: Path, *, operator: str, run_id: str, now: datetime) -> RunLock:
    """Take the lock or raise `RunLocked` naming the current holder. Never blocks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # non-inheritable: child processes do not keep it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunLocked(read_holder_info(path), str(path)) from None
    except BaseException:
        os.close(fd)
        raise
    try:
        previous = _decode(os.pread(fd, 64 * 1024, 0))
        holder = LockHolder(
            operator=operator, run_id=run_id, pid=os.getpid(), hostname=socket.gethostname(), since=now
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, _encode(holder), 0)
        os.fsync(fd)
    except BaseException:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        raise
    return RunLock(path, fd, holder, previous)


def current_holder(path: Path) -> LockHolder | None:
    """The live holder, or None when nobody holds the lock (tests the lock without keeping it)."""
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_holder_info(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
