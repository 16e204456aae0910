"""Maintenance windows of models/asset.py: weekly windows across midnight and the week wrap, time zones
and DST, one-off windows, window_remaining; with a hypothesis property test against a brute-force oracle."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from otorchestrator.models.asset import (
    DAYS,
    OneOffWindow,
    RecurringWindow,
    window_remaining,
)

BERLIN = ZoneInfo("Europe/Berlin")
# 2026-11-21 is a Saturday
SAT = date(2026, 11, 21)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def weekly(days: list[str], start: str, minutes: int, tz: str = "UTC") -> RecurringWindow:
    return RecurringWindow.model_validate(
        {"days": days, "start": start, "duration_minutes": minutes, "timezone": tz}
    )


def test_inside_and_outside_a_simple_window() -> None:
    w = weekly(["sat"], "02:00", 240)
    assert w.occurrence_containing(utc(2026, 11, 21, 2, 0)) == (
        datetime(2026, 11, 21, 2, 0, tzinfo=ZoneInfo("UTC")),
        datetime(2026, 11, 21, 6, 0, tzinfo=ZoneInfo("UTC")),
    )
    assert w.occurrence_containing(utc(2026, 11, 21, 5, 59)) is not None
    assert w.occurrence_containing(utc(2026, 11, 21, 6, 0)) is None  # half-open: the end is outside
    assert w.occurrence_containing(utc(2026, 11, 21, 1, 59)) is None
    assert w.occurrence_containing(utc(2026, 11, 22, 3, 0)) is None  # sunday


def test_window_across_midnight_belongs_to_its_start_day() -> None:
    w = weekly(["fri"], "22:00", 360)  # fri 22:00 -> sat 04:00
    assert w.occurrence_containing(utc(2026, 11, 21, 3, 59)) is not None  # saturday morning
    assert w.occurrence_containing(utc(2026, 11, 21, 4, 0)) is None
    assert w.occurrence_containing(utc(2026, 11, 21, 22, 30)) is None  # saturday night is not friday


def test_window_wraps_the_week_sunday_to_monday() -> None:
    w = weekly(["sun"], "23:00", 180)  # sun 23:00 -> mon 02:00
    monday = utc(2026, 11, 23, 1, 30)
    assert monday.weekday() == 0
    start, end = w.occurrence_containing(monday) or (None, None)
    assert start == datetime(2026, 11, 22, 23, 0, tzinfo=ZoneInfo("UTC"))
    assert end == datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("UTC"))
    assert window_remaining((w,), monday) == timedelta(minutes=30)


def test_week_long_window_is_found_from_its_last_day() -> None:
    w = weekly(["mon"], "00:00", 7 * 24 * 60)
    assert w.occurrence_containing(utc(2026, 11, 22, 23, 59)) is not None  # sunday night, day 7
    assert window_remaining((w,), utc(2026, 11, 22, 23, 0)) == timedelta(hours=1)


def test_time_zone_of_the_window_not_of_the_moment() -> None:
    w = weekly(["sat"], "22:00", 60, tz="Europe/Berlin")  # 21:00-22:00 UTC in winter (CET, +01:00)
    assert w.occurrence_containing(utc(2026, 11, 21, 21, 30)) is not None
    assert w.occurrence_containing(utc(2026, 11, 21, 22, 30)) is None
    tokyo = datetime(2026, 11, 22, 6, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # = 21:30 UTC saturday
    assert w.occurrence_containing(tokyo) is not None
    assert window_remaining((w,), tokyo) == timedelta(minutes=30)


def test_summer_time_shifts_the_utc_start() -> None:
    w = weekly(["sat"], "22:00", 60, tz="Europe/Berlin")
    assert w.occurrence_containing(utc(2026, 7, 4, 20, 30)) is not None  # CEST, +02:00
    assert w.occurrence_containing(utc(2026, 7, 4, 21, 30)) is None


def test_dst_nights_keep_the_local_end_time() -> None:
    """A window is local wall-clock time: sat 22:00 + 6 h ends sun 04:00 local, also on DST nights."""
    w = weekly(["sat"], "22:00", 360, tz="Europe/Berlin")
    # 2026-10-25: clocks go back 03:00 CEST -> 02:00 CET: the night has 7 real hours
    start = datetime(2026, 10, 24, 22, 0, tzinfo=BERLIN)
    assert window_remaining((w,), start) == timedelta(hours=7)
    assert window_remaining((w,), start.astimezone(UTC)) == timedelta(hours=7)  # same from any zone
    # 2026-03-29: clocks go forward 02:00 CET -> 03:00 CEST: 5 real hours
    start = datetime(2026, 3, 28, 22, 0, tzinfo=BERLIN)
    assert window_remaining((w,), start) == timedelta(hours=5)


def test_one_off_window() -> None:
    w = OneOffWindow.model_validate(
        {"start": "2026-12-05T06:00:00+01:00", "end": "2026-12-05T14:00:00+01:00"}
    )
    assert w.occurrence_containing(utc(2026, 12, 5, 5, 0)) is not None  # 06:00 +01:00
    assert w.occurrence_containing(utc(2026, 12, 5, 4, 59)) is None
    assert w.occurrence_containing(utc(2026, 12, 5, 13, 0)) is None  # the end, half-open
    assert window_remaining((w,), utc(2026, 12, 5, 12, 0)) == timedelta(hours=1)


@pytest.mark.parametrize(
    "data",
    [
        {"start": "2026-12-05T06:00:00", "end": "2026-12-05T14:00:00"},  # no offset
        {"start": "2026-12-05T14:00:00+00:00", "end": "2026-12-05T06:00:00+00:00"},  # reversed
        {"start": "2026-12-05T06:00:00+00:00", "end": "2026-12-05T06:00:00+00:00"},  # empty
    ],
)
def test_one_off_window_rejects(data: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        OneOffWindow.model_validate(data)


@pytest.mark.parametrize(
    "data",
    [
        {"days": ["sat"], "start": "02:00", "duration_minutes": 0},
        {"days": ["sat"], "start": "02:00", "duration_minutes": 7 * 24 * 60 + 1},
        {"days": ["saturday"], "start": "02:00", "duration_minutes": 60},
        {"days": ["sat"], "start": "25:00", "duration_minutes": 60},
        {"days": ["sat"], "start": "02:00", "duration_minutes": 60, "timezone": "Mars/Olympus"},
        {"days": ["sat"], "start": "02:00", "duration_minutes": 60, "extra": 1},
    ],
)
def test_recurring_window_rejects(data: dict[str, object]) -> None:
    """Every invalid window is a ValidationError (an unknown zone used to escape as a bare KeyError)."""
    with pytest.raises(ValidationError):
        RecurringWindow.model_validate(data)


def test_window_remaining_takes_the_longest_open_window() -> None:
    short = weekly(["sat"], "02:00", 60)
    long = weekly(["sat"], "01:00", 300)
    other_day = weekly(["sun"], "02:00", 600)
    moment = utc(2026, 11, 21, 2, 30)
    assert window_remaining((short, long, other_day), moment) == timedelta(hours=3, minutes=30)
    assert window_remaining((), moment) == timedelta(0)
    assert window_remaining((other_day,), moment) == timedelta(0)


def test_adjacent_occurrences_are_not_merged() -> None:
    """Documented behaviour the wave planner relies on: a daily 24 h window ends at midnight."""
    w = weekly(list(DAYS), "00:00", 1440)
    assert window_remaining((w,), utc(2026, 11, 21, 23, 50)) == timedelta(minutes=10)


# --- property test against a brute-force oracle ---------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"]

windows = st.builds(
    lambda days, hour, minute, minutes, tz: RecurringWindow(
        days=tuple(sorted(days, key=DAYS.index)),
        start=time(hour, minute),
        duration_minutes=minutes,
        timezone=tz,
    ),
    st.sets(st.sampled_from(DAYS), min_size=1),
    st.integers(0, 23),
    st.sampled_from([0, 15, 30, 45]),
    st.integers(1, 7 * 24 * 60),
    st.sampled_from(ZONES),
)
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


def oracle(window: RecurringWindow, moment: datetime) -> tuple[datetime, datetime] | None:
    """Look back a full 10 days (more than any window lasts), newest start first."""
    tz = ZoneInfo(window.timezone)
    local = moment.astimezone(tz)
    for back in range(10):
        day = local.date() - timedelta(days=back)
        if DAYS[day.weekday()] in window.days:
            start = datetime.combine(day, window.start, tzinfo=tz)
            end = start + timedelta(minutes=window.duration_minutes)
            if start <= moment < end:  # instants (moment is in UTC)
                return start, end
    return None


@settings(max_examples=400, deadline=None)
@given(windows, moments, st.sampled_from(ZONES))
def test_occurrence_matches_oracle_and_ignores_the_moments_zone(
    window: RecurringWindow, moment: datetime, seen_from: str
) -> None:
    found = window.occurrence_containing(moment)
    assert found == oracle(window, moment)
    # the same instant written in another zone gives the same answer
    assert window.occurrence_containing(moment.astimezone(ZoneInfo(seen_from))) == found
    remaining = window_remaining((window,), moment)
    assert window_remaining((window,), moment.astimezone(ZoneInfo(seen_from))) == remaining
    assert (remaining > timedelta(0)) == (found is not None)
    assert remaining <= timedelta(minutes=window.duration_minutes, hours=1)  # +1 h: a DST night


@settings(max_examples=300, deadline=None)
@given(windows.filter(lambda w: w.timezone == "UTC"), moments, st.integers(0, 7 * 24 * 60))
def test_remaining_counts_down_in_utc(window: RecurringWindow, moment: datetime, step: int) -> None:
    """Without DST, inside one occurrence the time left decreases exactly as time passes."""
    remaining = window_remaining((window,), moment)
    later = moment + timedelta(minutes=step)
    occurrence = window.occurrence_containing(moment)
    if occurrence is None or later >= occurrence[1]:
        return
    assert window_remaining((window,), later) >= remaining - timedelta(minutes=step)
    assert window.occurrence_containing(later) is not None


def test_ambiguous_fall_back_hour_is_decided_by_the_instant() -> None:
    """02:15 happens twice on 2026-10-25 in Berlin; only the second one is after a 02:30 CEST start."""
    w = weekly(["sun"], "02:30", 60, tz="Europe/Berlin")  # starts 02:30 CEST = 00:30 UTC
    first = datetime(2026, 10, 25, 2, 15, fold=0, tzinfo=BERLIN)  # 00:15 UTC: before the start
    second = datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=BERLIN)  # 01:15 UTC: inside
    assert w.occurrence_containing(first) is None
    assert w.occurrence_containing(second) is not None
    assert window_remaining((w,), second) == timedelta(minutes=75)  # ends 03:30 CET = 02:30 UTC


def test_fixed_offset_moment() -> None:
    w = weekly(["sat"], "02:00", 60, tz="Asia/Kolkata")  # 20:30-21:30 UTC friday
    moment = datetime(2026, 11, 20, 21, 0, tzinfo=timezone(timedelta(hours=-5)))  # 02:00 UTC saturday
    assert w.occurrence_containing(moment) is None
    assert w.occurrence_containing(utc(2026, 11, 20, 21, 0)) is not None


def test_any_time_window_is_always_open() -> None:
    """A DMZ host open around the clock: `{any_time: true}` (before: not expressible; a daily 00:00 + 1440
    window has ten minutes left at 23:50)."""
    from otorchestrator.models.asset import AnyTimeWindow

    w = AnyTimeWindow.model_validate({"any_time": True, "timezone": "Europe/Berlin"})
    for moment in (utc(2026, 11, 21, 23, 50), utc(2026, 3, 29, 1, 30), utc(2030, 1, 1)):
        assert w.occurrence_containing(moment) is not None
        assert window_remaining((w,), moment) > timedelta(days=365)
    daily = weekly(list(DAYS), "00:00", 1440)
    assert window_remaining((daily,), utc(2026, 11, 21, 23, 50)) == timedelta(minutes=10)
    with pytest.raises(ValidationError):
        AnyTimeWindow.model_validate({"any_time": False})
    with pytest.raises(ValidationError, match="IANA"):
        AnyTimeWindow.model_validate({"any_time": True, "timezone": "Europe/Berln"})


def test_any_time_window_in_an_asset_round_trips() -> None:
    from otorchestrator.models.asset import AnyTimeWindow, Asset

    asset = Asset.model_validate(
        {
            "name": "gw",
            "site": "s",
            "zone": "dmz",
            "purdue_level": 3.5,
            "role": "gateway",
            "criticality": "medium",
            "maintenance_windows": [
                {"any_time": True},
                {"days": ["sat"], "start": "02:00", "duration_minutes": 60},
            ],
        }
    )
    assert isinstance(asset.maintenance_windows[0], AnyTimeWindow)
    assert isinstance(asset.maintenance_windows[1], RecurringWindow)
    assert Asset.model_validate_json(asset.model_dump_json()) == asset
