"""Store and audit errors. Each is also the matching built-in; the CLI renders them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class StoreError(Exception):
    """Base of every error raised by otorchestrator.store."""


class SchemaError(StoreError, RuntimeError):
    """The database was written by a newer otorchestrator (unknown schema version)."""


class RunNotFound(StoreError, LookupError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id!r} in the state store")
        self.run_id = run_id


class RunExists(StoreError, ValueError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} already exists in the state store")
        self.run_id = run_id


class IllegalTransition(StoreError, ValueError):
    def __init__(self, run_id: str, host: str, current: str | None, target: str) -> None:
        where = current if current is not None else "(not in run)"
        super().__init__(f"run {run_id}: host {host}: illegal transition {where} -> {target}")
        self.run_id, self.host, self.current, self.target = run_id, host, current, target


class StateConflict(StoreError, RuntimeError):
    """The host was not in the state the caller expected (someone else moved it)."""

    def __init__(self, run_id: str, host: str, expected: str | None, actual: str | None) -> None:
        super().__init__(f"run {run_id}: host {host}: expected state {expected}, found {actual}")
        self.run_id, self.host, self.expected, self.actual = run_id, host, expected, actual


@dataclass(frozen=True)
class LockHolder:
    operator: str
    run_id: str
    pid: int
    hostname: str
    since: datetime

    def describe(self) -> str:
        return (
            f"operator {self.operator}, run {self.run_id}, pid {self.pid} on {self.hostname}, "
            f"since {self.since.isoformat()}"
        )


class RunLocked(StoreError, RuntimeError):
    def __init__(self, holder: LockHolder | None, lock_path: str) -> None:
        who = holder.describe() if holder else "holder unknown"
        super().__init__(f"the state store is locked by another run ({who}); lock file {lock_path}")
        self.holder = holder
        self.lock_path = lock_path


class AuditError(StoreError, RuntimeError):
    """The audit log cannot be appended to safely (torn tail, chain broken at the end, ...)."""


class SecretInAudit(AuditError, ValueError):
    """An audit event carried a registered secret and the redactor is set to refuse."""


class AuditUnavailable(AuditError, OSError):
    """The audit record could not be written, or (when forwarding must not fail) not forwarded: the run
    must stop starting host steps. `written` says whether the local log holds the record."""

    def __init__(self, message: str, written: bool = False) -> None:
        super().__init__(message)
        self.written = written


class StoreUnavailable(StoreError, OSError):
    """The state store could not be written (file system full, read-only, its directory removed): the run
    must stop starting host steps. The store holds what was committed before; `otorch resume` goes on."""
