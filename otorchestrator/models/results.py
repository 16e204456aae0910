"""What one phase of one host produced: the structured result a role reports through set_stats."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class Phase(StrEnum):
    SCAN = "scan"
    DIAGNOSTICS = "diagnostics"
    BACKUP = "backup"
    INSTALL = "install"
    VERIFY = "verify"
    ROLLBACK = "rollback"


class HostOutcome(StrEnum):
    """How Ansible saw a host at the end of a phase, independent of the role's own verdict."""

    OK = "ok"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"
    NO_RESULT = "no_result"  # the play ended without the role reporting (e.g. a task failed before set_stats)


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    ok: bool
    value: Any = None
    threshold: Any = None
    detail: str = ""


class PhaseResult(BaseModel):
    """One host, one phase. `ok` is the role's verdict; `outcome` is what Ansible saw."""

    model_config = ConfigDict(frozen=True)

    # roles send `schema`; Python code may say schema_version
    schema_version: int = Field(default=1, validation_alias=AliasChoices("schema", "schema_version"))
    phase: Phase
    host: str
    ok: bool
    outcome: HostOutcome = HostOutcome.OK
    checks: tuple[Check, ...] = ()
    values: dict[str, Any] = Field(default_factory=dict)
    backup_id: str | None = None
    versions_before: dict[str, str] = Field(default_factory=dict)
    versions_after: dict[str, str] = Field(default_factory=dict)
    failed_task: str | None = None
    message: str = ""

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)
