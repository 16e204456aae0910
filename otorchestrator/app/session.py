"""What a caller supplies (`Caller`) and the open state of one command (`Session`): state paths, the
state store, the audit log with the site's sinks, the redactor, the orchestrator."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from otorchestrator.app import clock
from otorchestrator.app.errors import AppError
from otorchestrator.execution.backend import Backend
from otorchestrator.execution.observer import Observer
from otorchestrator.execution.orchestrator import Orchestrator
from otorchestrator.exitcodes import ExitCode
from otorchestrator.forward.config import AuditConfigError, audit_sinks, find_audit_config
from otorchestrator.models.waves import Wave
from otorchestrator.store.audit import AuditLog, AuditSink
from otorchestrator.store.clock import Clock
from otorchestrator.store.errors import AuditUnavailable
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.redact import Redactor
from otorchestrator.store.state import StateStore


def registry_backend(paths: StatePaths) -> Backend:
    """The backend the registry names ($OTORCH_BACKEND, default ansible-runner; execution/registry.py)."""
    from otorchestrator.execution.registry import BackendNotFound, load_backend

    try:
        return load_backend(paths)
    except BackendNotFound as exc:
        raise AppError(str(exc), usage=True) from exc


def _ignore(message: str) -> None:
    pass


@dataclass(frozen=True)
class Caller:
    """Where state lives and the effects the caller owns: the backend, who watches (observers: progress,
    live report, ...), who answers before a wave
    (confirm; None: nobody asked), where warnings go, the site audit config, the clock."""

    state_dir: Path | None = None
    backend: Callable[[StatePaths], Backend] = registry_backend
    observers: Sequence[Observer] = ()
    confirm: Callable[[Wave], bool] | None = None
    warn: Callable[[str], None] = _ignore
    audit_config: Path | None = None
    clock: Clock = field(default_factory=lambda: clock.CLOCK)

    def paths(self) -> StatePaths:
        return StatePaths.resolve(self.state_dir, os.environ)

    def all_observers(self) -> list[Observer]:
        return list(self.observers)


def audit_sinks_for(given: Path | None, paths: StatePaths, warn: Callable[[str], None]) -> list[AuditSink]:
    """The syslog forwarding and checkpoint signing the site's audit config asks for (docs/audit.md):
    `given` (--audit-config), else $OTORCH_AUDIT_CONFIG, else /etc/otorchestrator/audit.yml."""
    try:
        return audit_sinks(find_audit_config(given), paths.root, warn)
    except AuditConfigError as exc:
        raise AppError(str(exc), ExitCode.INPUT_INVALID) from exc
    except AuditUnavailable as exc:
        raise AppError(f"{exc}\nnothing was started", ExitCode.AUDIT_UNAVAILABLE) from exc


def existing_paths(state_dir: Path | None) -> StatePaths:
    """The paths of a state store that must exist already (NO_STATE otherwise; nothing is created)."""
    paths = StatePaths.resolve(state_dir, os.environ)
    if not paths.db.exists():
        raise AppError(paths.missing_store() or f"no state store at {paths.db}", ExitCode.NO_STATE)
    return paths


@dataclass
class Session:
    paths: StatePaths
    store: StateStore
    audit: AuditLog
    redactor: Redactor
    orchestrator: Orchestrator
    clock: Clock


@contextmanager
def open_session(caller: Caller, secrets: Sequence[str] = ()) -> Iterator[Session]:
    """State directory created, store and audit log opened (with the site's sinks), the backend built."""
    paths = caller.paths().ensure()
    redactor = Redactor(secrets)
    sinks = audit_sinks_for(caller.audit_config, paths, caller.warn)
    store = StateStore(paths.db)
    audit = AuditLog(paths.audit, redactor=redactor, head_store=store, sinks=sinks)
    try:
        backend = caller.backend(paths)
        orchestrator = Orchestrator(backend, store, audit, caller.clock, caller.all_observers(), redactor)
        yield Session(paths, store, audit, redactor, orchestrator, caller.clock)
    finally:
        audit.close()
        store.close()
