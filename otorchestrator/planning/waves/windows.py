"""Maintenance-window arithmetic for staging: when is the next moment a host's work fits in one window.

A slot fits a window occurrence [start, end) when start <= slot < end and slot + need <= end: one
occurrence must hold the whole expected duration plus rollback. Occurrences are not merged, so the answer
agrees with `models.asset.window_remaining`, which the executor checks again before it starts a host.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from otorchestrator.models.asset import DAYS, AnyTimeWindow, MaintenanceWindow, OneOffWindow

# an any-time window is one occurrence over the whole planning span; its end leaves room for any host
ANY_TIME_TAIL = timedelta(days=30)

Occurrence = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Fit:
    slot: datetime  # when the host may start
    start: datetime  # the window occurrence that holds it
    end: datetime


@dataclass(frozen=True, slots=True)
class Timeline:
    """All occurrences of a set of windows between two moments, sorted by start, in UTC."""

    occurrences: tuple[Occurrence, ...]
    starts: tuple[datetime, ...]
    longest: timedelta
    zone: tzinfo = UTC  # the zone the host's times are shown in (local_zone of its windows)

    def next_fit(self, moment: datetime, need: timedelta, limit: datetime) -> Fit | None:
        """The earliest fit with moment <= slot <= limit, or None.

        The slot is `moment` itself when an open occurrence still holds `need`, otherwise the start of
        the first later occurrence long enough.
        """
        index = bisect_left(self.starts, moment - self.longest)
        for start, end in self.occurrences[index:]:
            slot = max(start, moment)
            if slot > limit:
                return None
            if slot + need <= end:
                return Fit(slot, start, end)
        return None


def timeline(windows: tuple[MaintenanceWindow, ...], since: datetime, until: datetime) -> Timeline:
    """Occurrences of `windows` that may hold a slot between `since` and `until` (aware datetimes)."""
    found: set[Occurrence] = set()
    for window in windows:
        if isinstance(window, AnyTimeWindow):
            found.add((since.astimezone(UTC), until.astimezone(UTC) + ANY_TIME_TAIL))
            continue
        if isinstance(window, OneOffWindow):
            if window.end > since and window.start <= until:
                found.add((window.start.astimezone(UTC), window.end.astimezone(UTC)))
            continue
        tz = ZoneInfo(window.timezone)
        span = timedelta(minutes=window.duration_minutes)
        day = (since.astimezone(tz) - span - timedelta(days=1)).date()
        last = (until.astimezone(tz) + timedelta(days=1)).date()
        while day <= last:
            if DAYS[day.weekday()] in window.days:
                start = datetime.combine(day, window.start, tzinfo=tz)
                end = start + span  # wall-clock arithmetic, as RecurringWindow.occurrence_containing
                if end > since and start <= until:
                    found.add((start.astimezone(UTC), end.astimezone(UTC)))
            day += timedelta(days=1)
    occurrences = tuple(sorted(found))
    longest = max((end - start for start, end in occurrences), default=timedelta(0))
    return Timeline(occurrences, tuple(start for start, _ in occurrences), longest, local_zone(windows))


def local_zone(windows: tuple[MaintenanceWindow, ...]) -> tzinfo:
    """The zone an asset's times are shown in: that of its first window with a named zone, else the offset
    of its first one-off window, else UTC."""
    for window in windows:
        if not isinstance(window, OneOffWindow):
            return ZoneInfo(window.timezone)
    for window in windows:
        if isinstance(window, OneOffWindow) and window.start.tzinfo is not None:
            return window.start.tzinfo
    return UTC


def zone_name(zone: tzinfo) -> str:
    """An IANA name (`Europe/Berlin`), or `UTC+0100` for a fixed offset."""
    key = getattr(zone, "key", None)
    return str(key) if key else datetime(2000, 1, 1, tzinfo=zone).strftime("UTC%z")


@lru_cache(maxsize=8192)
def local_text(moment: datetime, zone: tzinfo) -> str:
    """`Sat 2026-11-28 22:00 Europe/Berlin`: a moment in the asset's local time, with its zone."""
    return f"{moment.astimezone(zone):%a %Y-%m-%d %H:%M} {zone_name(zone)}"


def window_minutes(window: MaintenanceWindow) -> int | None:
    """How long one occurrence of a window lasts (None: around the clock)."""
    if isinstance(window, AnyTimeWindow):
        return None
    if isinstance(window, OneOffWindow):
        return int((window.end - window.start).total_seconds() // 60)
    return window.duration_minutes
