"""The seam between the orchestrator and whatever runs playbooks (docs/contracts.md section 7).

A backend is handed everything as data (the phase's hosts with their variables, not a path on this
machine), so it may run the phase elsewhere (a zone's execution node, an AWX job template). It owns cancel,
the clean-up of what a crashed run left (`end_orphans(run_id)`) and where backups live (`backups`).
`AnsibleRunnerBackend` (execution/ansible.py) is this project's and the only importer of ansible_runner;
backends are found through execution/registry.py; the engine's tests use tests/unit/fake_backend.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from otorchestrator.models.results import Phase, PhaseResult

Transport = Literal["ssh", "mitogen"]
TRANSPORTS: tuple[Transport, ...] = ("ssh", "mitogen")


class RunStatus(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELED = "canceled"


class HostsInventory(BaseModel):
    """A phase's hosts as data: name -> merged variables (``ansible-inventory --list``'s ``_meta.hostvars``
    form, vaulted values still encrypted), group -> member names (membership only), and where it was read
    (`source`: for messages and a backend's site files, never read as an inventory by a backend)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["hosts"] = "hosts"
    hosts: Mapping[str, Mapping[str, Any]]
    groups: Mapping[str, tuple[str, ...]] = Field(default_factory=dict)
    source: str = ""

    def listing(self) -> dict[str, Any]:
        """The same hosts in ``ansible-inventory --list`` JSON form."""
        out: dict[str, Any] = {g: {"hosts": list(m)} for g, m in self.groups.items()}
        out["_meta"] = {"hostvars": {h: dict(v) for h, v in self.hosts.items()}}
        return out


class InventoryRef(BaseModel):
    """An inventory the backend resolves itself (an AWX inventory id, a file on an execution node)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["ref"] = "ref"
    ref: str


class PhaseRequest(BaseModel):
    """Run one phase playbook on exactly these hosts."""

    model_config = ConfigDict(frozen=True)

    phase: Phase
    hosts: tuple[str, ...]
    inventory: HostsInventory | InventoryRef = Field(discriminator="kind")
    extravars: Mapping[str, Any] = Field(default_factory=dict)
    secret_vars: Mapping[str, str] = Field(default_factory=dict, repr=False)  # never written to disk or logs
    check_mode: bool = False
    timeout_s: int = 1800
    task_timeout_s: int = 600
    run_id: str = ""  # the run (drill, scan) this phase belongs to: what `end_orphans` is given
    run_label: str = ""  # for the job directory's name and logs only
    transport: Transport = "ssh"


class TaskEvent(BaseModel):
    """A progress event for display and the audit trail (no raw output, no variables)."""

    model_config = ConfigDict(frozen=True)

    host: str
    phase: Phase
    task: str
    status: str  # started | ok | changed | failed | skipped | unreachable | timed_out
    message: str = ""


class PhaseOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    phase: Phase
    status: RunStatus
    rc: int | None
    results: dict[str, PhaseResult]  # every requested host has an entry
    artifact_dir: Path | None = None


class BackupStore(BaseModel):
    """Where verified backups live: `location` is what the playbooks get as ``otorch_backup_store_dir`` (on
    the machine that runs ansible-playbook); `local_dir` is that directory on this controller when it is
    here (the free-space check reads it), None when backups live elsewhere."""

    model_config = ConfigDict(frozen=True)

    location: str
    local_dir: Path | None = None

    @classmethod
    def local(cls, directory: Path) -> BackupStore:
        path = Path(directory).resolve()
        return cls(location=str(path), local_dir=path)


Notify = Callable[[str, list[str]], None]


class Backend(Protocol):
    backups: BackupStore

    def run_phase(
        self,
        request: PhaseRequest,
        on_event: Callable[[TaskEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> PhaseOutcome: ...

    def end_orphans(self, run_id: str, grace_s: float = 30.0, notify: Notify | None = None) -> list[str]:
        """End what phases of `run_id` left running after a crash; returns what survived."""
        ...
