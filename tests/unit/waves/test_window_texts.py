"""Windows in staging: any-time windows, and what a host is told when no window holds it."""

from __future__ import annotations

from datetime import timedelta

from otorchestrator.models.asset import AnyTimeWindow, RecurringWindow
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import Rule
from otorchestrator.planning.waves import stage_waves

from ._build import NOW, asset, patch, plan

ANY = AnyTimeWindow(any_time=True, timezone="Europe/Berlin")


def test_any_time_host_starts_at_once_and_late_at_night() -> None:
    late = NOW.replace(hour=22, minute=50)  # a daily 00:00 + 1440 window would have 10 minutes left
    gw = asset("gw", maintenance_windows=(ANY,))
    wp = stage_waves(plan([gw], [patch("P", 30)], [("gw", "P")]), WavePolicy(), late)
    (host,) = wp.waves[0].hosts
    assert wp.waves[0].slot_start == late
    assert host.window_start <= late and host.latest_start >= late + timedelta(hours=24)


def test_a_single_short_window_is_told_its_length() -> None:
    """Before: "no maintenance window between ... holds 60 min", without saying the window is 20 min."""
    short = RecurringWindow(days=("sat", "sun"), start="02:00", duration_minutes=20, timezone="Europe/Berlin")
    a = asset("short", maintenance_windows=(short,))
    wp = stage_waves(plan([a], [patch("P", minutes=40, rollback=20)], [("short", "P")]), WavePolicy(), NOW)
    (ex,) = wp.exclusions
    assert ex.rule is Rule.WINDOW and ex.infeasible
    assert ex.reason == "its window is 20 min, shorter than the 60 min (duration 40 + rollback 20) it needs"


def test_window_closed_until_the_horizon_is_told_in_local_time() -> None:
    """Times in explanations are the asset's local time with its zone (before: UTC isoformat only)."""
    monthly = RecurringWindow(days=("sat",), start="02:00", duration_minutes=240, timezone="America/Chicago")
    a = asset("far", maintenance_windows=(monthly,))
    wp = stage_waves(plan([a], [patch("P")], [("far", "P")]), WavePolicy(horizon_hours=24), NOW)
    (ex,) = wp.exclusions
    assert "Sat 2026-11-21 20:00 America/Chicago" in ex.reason  # NOW is Sunday 02:00 UTC
    assert "Sun 2026-11-22 20:00 America/Chicago" in ex.reason
