"""The run lock: one run at a time per state store, across processes.

An OS lock (`fcntl.flock` on `<store>.lock`) so a holder killed with SIGKILL frees it with its last file
descriptor. Who holds it is written into the lock file for the refusal message; a clean release empties
the file, so holder info found on acquire names a previous holder that crashed.

A second lock, the anchor, lives outside the state directory (`$OTORCH_LOCK_DIR`, else
/run/lock/otorchestrator, else the temp dir), named by a hash of the lock file's absolute path: deleting or
recreating the state directory while a run holds it does not let a second run in (same path, same anchor).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import tempfile
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


def anchor_dir() -> Path:
    """Where anchors live: outside every state directory, on a file system that survives the run."""
    override = os.environ.get("OTORCH_LOCK_DIR")
    if override:
        return Path(override)
    run_lock = Path("/run/lock")
    if run_lock.is_dir() and os.access(run_lock, os.W_OK):
        return run_lock / "otorchestrator"
    return Path(tempfile.gettempdir()) / "otorchestrator-locks"


def anchor_path(path: Path) -> Path:
    """The anchor of the lock file `path` (same absolute path -> same anchor, whatever became of the dir)."""
    key = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:24]
    return anchor_dir() / f"{key}.lock"


def _take(path: Path) -> int:
    """An exclusive, non-blocking flock on `path` (created 0600); raises BlockingIOError when held."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # non-inheritable: child processes do not keep it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _drop(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
        os.fsync(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class RunLock:
    """A held run lock. Use as a context manager or call `release()`; releasing twice is harmless."""

    def __init__(
        self, path: Path, fds: tuple[int, ...], holder: LockHolder, previous: LockHolder | None
    ) -> None:
        self.path = path
        self.holder = holder
        self.previous = previous  # holder info left by a run that did not release (crashed)
        self._fds: tuple[int, ...] = fds

    @property
    def held(self) -> bool:
        return bool(self._fds)

    def release(self) -> None:
        fds, self._fds = self._fds, ()
        for fd in reversed(fds):  # the store's lock first, the anchor last
            _drop(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def acquire_lock(path: Path, *, operator: str, run_id: str, now: datetime) -> RunLock:
    """Take the lock (anchor, then the state directory's file) or raise `RunLocked` naming the holder.

    Never blocks."""
    anchor = anchor_path(path)
    fds: list[int] = []
    try:
        for where in (anchor, path):
            try:
                fds.append(_take(where))
            except BlockingIOError:
                raise RunLocked(read_holder_info(where), str(where)) from None
        previous = _decode(os.pread(fds[1], 64 * 1024, 0)) or _decode(os.pread(fds[0], 64 * 1024, 0))
        holder = LockHolder(
            operator=operator, run_id=run_id, pid=os.getpid(), hostname=socket.gethostname(), since=now
        )
        for fd in fds:
            os.ftruncate(fd, 0)
            os.pwrite(fd, _encode(holder), 0)
            os.fsync(fd)
    except BaseException:
        for fd in reversed(fds):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        raise
    return RunLock(path, tuple(fds), holder, previous)


def _held_by(path: Path) -> LockHolder | None:
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


def current_holder(path: Path) -> LockHolder | None:
    """The live holder, or None when nobody holds the lock (tests the lock without keeping it)."""
    return _held_by(anchor_path(path)) or _held_by(path)
