"""Exemptions: a recorded decision not to patch something for now, with compensating controls."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Exemption(BaseModel):
    """Applies to the listed assets or groups, for the listed CVEs or patches, until `expires`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    assets: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()
    patches: tuple[str, ...] = ()
    reason: str = Field(min_length=1)
    compensating_controls: tuple[str, ...] = Field(min_length=1)
    approver: str = Field(min_length=1)
    expires: datetime

    @model_validator(mode="after")
    def _scoped(self) -> Exemption:
        if not (self.assets or self.groups):
            raise ValueError("an exemption needs `assets` or `groups`")
        if not (self.cves or self.patches):
            raise ValueError("an exemption needs `cves` or `patches`")
        if self.expires.tzinfo is None:
            raise ValueError("expires needs a UTC offset, e.g. 2026-12-31T00:00:00+00:00")
        return self

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires

    def covers_asset(self, name: str, groups: tuple[str, ...]) -> bool:
        return name in self.assets or any(g in self.groups for g in groups)
