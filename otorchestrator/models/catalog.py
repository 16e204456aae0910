"""The local patch catalog: what the site has qualified, and how to install it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Qualification(StrEnum):
    QUALIFIED = "qualified"
    PARTIALLY_QUALIFIED = "partially_qualified"
    NOT_QUALIFIED = "not_qualified"
    NOT_TESTED = "not_tested"


class Patch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    vendor: str
    product: str
    package: str | None = None
    fixed_version: str
    target_version: str
    artifact: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    qualification: Qualification = Qualification.NOT_TESTED
    reboot_required: bool = False
    expected_duration_minutes: int = Field(default=15, gt=0)
    rollback_supported: bool = True
    rollback_duration_minutes: int | None = None  # defaults to expected_duration_minutes
    fixes: tuple[str, ...] = ()
    advisories: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    health_command: str | None = None
    required_free_mb: dict[str, int] = Field(default_factory=dict)
    config_files: tuple[str, ...] = ()

    @property
    def rollback_minutes(self) -> int:
        return self.rollback_duration_minutes or self.expected_duration_minutes


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str = ""
    patches: tuple[Patch, ...] = ()

    def by_id(self) -> dict[str, Patch]:
        return {p.id: p for p in self.patches}
