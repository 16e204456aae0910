"""Assets: what the plant runs, where it sits, how much it matters, and when it may be touched."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Role(StrEnum):
    HMI = "hmi"
    SCADA_SERVER = "scada_server"
    HISTORIAN = "historian"
    ENGINEERING_WORKSTATION = "engineering_workstation"
    GATEWAY = "gateway"
    PLC = "plc"
    RTU = "rtu"
    SERVER = "server"
    OTHER = "other"


class Criticality(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]  # a StrEnum hashes and compares as its value: no `.value` lookup (hot path)


_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


PURDUE_LEVELS: tuple[float, ...] = (0, 1, 2, 3, 3.5, 4, 5)
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _zone_name(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError("an IANA time zone name such as UTC or Europe/Berlin") from exc
    return value


class RecurringWindow(BaseModel):
    """A weekly window: on each listed day, from `start` (local time in `timezone`) for `duration_minutes`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: tuple[Day, ...]
    start: time
    duration_minutes: int = Field(gt=0, le=7 * 24 * 60)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone_name(value)

    def occurrence_containing(self, moment: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence (start, end) that contains `moment` (an aware datetime), if any.

        Start and end are local wall-clock times in `timezone` (sat 22:00 + 6 h ends sun 04:00 local, also
        on a DST night); containment is decided on the absolute instant, whatever zone `moment` is in.
        """
        tz = ZoneInfo(self.timezone)
        local = moment.astimezone(tz)
        instant = moment.astimezone(UTC)  # compare instants: same-tzinfo comparisons are wall-clock
        span = timedelta(minutes=self.duration_minutes)
        # an occurrence that started up to `span` ago may still be open: look back enough days
        for back in range(0, span.days + 2):
            day = (local - timedelta(days=back)).date()
            if DAYS[day.weekday()] not in self.days:
                continue
            start = datetime.combine(day, self.start, tzinfo=tz)
            if start <= instant < start + span:
                return start, start + span
        return None


class OneOffWindow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered_and_aware(self) -> OneOffWindow:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset, e.g. 2026-11-22T02:00:00+00:00")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def occurrence_containing(self, moment: datetime) -> tuple[datetime, datetime] | None:
        return (self.start, self.end) if self.start <= moment.astimezone(UTC) < self.end else None


ALWAYS_START = datetime(1970, 1, 1, tzinfo=UTC)
ALWAYS_END = datetime(9999, 1, 1, tzinfo=UTC)


class AnyTimeWindow(BaseModel):
    """Open around the clock (`{any_time: true}`): a DMZ gateway or a redundant server that may be touched
    whenever the rollout reaches it. `timezone` is only the zone its times are shown in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    any_time: Literal[True]
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone_name(value)

    def occurrence_containing(self, moment: datetime) -> tuple[datetime, datetime] | None:
        return ALWAYS_START, ALWAYS_END


MaintenanceWindow = RecurringWindow | OneOffWindow | AnyTimeWindow


def window_remaining(windows: tuple[MaintenanceWindow, ...], moment: datetime) -> timedelta:
    """How long from `moment` the longest currently open window stays open (zero when none is open).

    Real elapsed time, the same whatever zone `moment` is in. Occurrences are not merged: a daily window
    00:00 + 24 h has 10 minutes left at 23:50 (the wave planner relies on this).
    """
    best = timedelta(0)
    instant = moment.astimezone(UTC)  # subtracting same-tzinfo datetimes would give wall-clock time
    for window in windows:
        occurrence = window.occurrence_containing(instant)
        if occurrence is not None:
            best = max(best, occurrence[1].astimezone(UTC) - instant)
    return best


class InstalledProduct(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor: str
    product: str
    version: str
    package: str | None = None
    kind: Literal["software", "firmware"] = "software"


class OperatingSystem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    family: str
    version: str = ""


class Asset(BaseModel):
    """One inventory host with its OT metadata. `name` is the Ansible inventory hostname."""

    model_config = ConfigDict(frozen=True)

    name: str
    site: str
    zone: str
    purdue_level: float
    role: Role
    criticality: Criticality
    safety_system: bool = False
    redundancy_group: str | None = None
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()
    installed_products: tuple[InstalledProduct, ...] = ()
    os: OperatingSystem = OperatingSystem(family="debian")
    connection: Literal["ssh", "winrm"] = "ssh"
    depends_on: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @field_validator("purdue_level")
    @classmethod
    def _purdue(cls, value: float) -> float:
        if value not in PURDUE_LEVELS:
            raise ValueError(f"expected one of {', '.join(str(v) for v in PURDUE_LEVELS)}")
        return value


class Inventory(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str
    assets: tuple[Asset, ...]

    def by_name(self) -> dict[str, Asset]:
        return {a.name: a for a in self.assets}
