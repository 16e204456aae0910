"""The seam between the orchestrator and whatever runs playbooks.

`AnsibleRunnerBackend` (execution/ansible.py) is the real one and the only importer of ansible_runner;
tests of the orchestrator's state machine may use a fake that implements the same protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from otorchestrator.models.results import Phase, PhaseResult


class RunStatus(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELED = "canceled"


class PhaseRequest(BaseModel):
    """Run one phase playbook on exactly these hosts."""

    model_config = ConfigDict(frozen=True)

    phase: Phase
    hosts: tuple[str, ...]
    inventory: Path  # the source inventory; the backend writes one holding only `hosts`
    extravars: Mapping[str, Any] = Field(default_factory=dict)
    secret_vars: Mapping[str, str] = Field(default_factory=dict, repr=False)  # never written to disk or logs
    check_mode: bool = False
    timeout_s: int = 1800
    task_timeout_s: int = 600
    run_label: str = ""  # for the private_data_dir name and logs


class TaskEvent(BaseModel):
    """A progress event for display and the audit trail (no raw output, no variables)."""

    model_config = ConfigDict(frozen=True)

    host: str
    phase: Phase
    task: str
    status: str  # started | ok | changed | failed | skipped | unreachable
    message: str = ""


class PhaseOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    phase: Phase
    status: RunStatus
    rc: int | None
    results: dict[str, PhaseResult]  # every requested host has an entry
    artifact_dir: Path | None = None


class Backend(Protocol):
    def run_phase(
        self,
        request: PhaseRequest,
        on_event: Callable[[TaskEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> PhaseOutcome: ...
