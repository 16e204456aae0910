"""The wave timeline against each asset's maintenance windows: the data `reporting.timeline_svg` draws.

Pure: built from a wave plan (and the plan, for the assets outside the waves) and, when a run exists, from
the run report's host rows (each host's own phase times) and its held / exempt / blocked rows. One row
per asset: its window occurrences on the time axis (with the local time and zone they were written in),
the planned slot (its wave's start, the expected duration, the rollback reserve, the latest start) and the
phases it actually ran. All times are UTC; window labels are local.

The axis follows the work, not the windows: it spans the planned slots and the actual phases, widened
towards the windows that hold them by at most a quarter of the work's span, so a 48-hour window does not
shrink a 10-minute run to a hairline (occurrences are clipped to the axis; their labels keep the full
times).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from otorchestrator.models.asset import AnyTimeWindow, Asset, MaintenanceWindow, OneOffWindow
from otorchestrator.models.plan import Decision, Plan
from otorchestrator.models.waves import Exclusion, WaveHost, WavePlan
from otorchestrator.planning.waves.windows import timeline as occurrences

if TYPE_CHECKING:  # the report models import this module: types only, no import cycle
    from otorchestrator.reporting.models import HostRow, OutsideRow

_FROZEN = ConfigDict(frozen=True)
MAX_ROWS = 300  # beyond this the picture is no longer read; the tables and the JSON hold every asset
MIN_SPAN = timedelta(minutes=10)
NEXT_WINDOW_LOOKAHEAD = timedelta(days=14)
# an outcome with no run yet: the host has a slot and nothing ran
PLANNED = "planned"
OUTSIDE_PLACEMENTS = ("held", "exempt", "blocked", "excluded")


class WindowSpan(BaseModel):
    """One occurrence of a maintenance window (UTC), labelled in the zone it was written in."""

    model_config = _FROZEN

    start: datetime
    end: datetime
    label: str  # e.g. "Sat 22:00 - Sun 04:00 Europe/Berlin"


class PhaseSpan(BaseModel):
    model_config = _FROZEN

    phase: str
    start: datetime
    end: datetime
    ok: bool


class TimelineRow(BaseModel):
    model_config = _FROZEN

    asset: str
    zone: str
    timezones: tuple[str, ...]  # the zones its windows are written in
    outcome: str  # a host state of the run (succeeded, rolled_back, ...), planned, or a placement
    reason: str = ""  # why a held / exempt / blocked / excluded asset is not patched
    wave: str | None = None
    windows: tuple[WindowSpan, ...] = ()
    next_window: WindowSpan | None = None  # the first occurrence after the axis, when none is on it
    windows_known: bool = True  # False: the asset's windows were not available (no plan read)
    slot_start: datetime | None = None  # the wave's slot start: the host may start here
    slot_end: datetime | None = None  # + expected duration
    reserve_end: datetime | None = None  # + rollback duration
    latest_start: datetime | None = None  # do not start the host after this
    phases: tuple[PhaseSpan, ...] = ()

    @property
    def placed(self) -> bool:
        return self.slot_start is not None


class WaveSlot(BaseModel):
    model_config = _FROZEN

    index: int
    name: str
    start: datetime  # planned
    end: datetime
    actual_start: datetime | None = None
    actual_end: datetime | None = None


class WindowTimeline(BaseModel):
    model_config = _FROZEN

    start: datetime  # the axis
    end: datetime
    staged_at: datetime | None = None  # when the wave plan was staged (drawn when on the axis)
    waves: tuple[WaveSlot, ...] = ()
    rows: tuple[TimelineRow, ...] = ()
    hidden_rows: int = 0  # assets beyond MAX_ROWS, not drawn


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _zone(window: MaintenanceWindow) -> str:
    if isinstance(window, OneOffWindow):
        return window.start.strftime("UTC%z") if window.start.utcoffset() else "UTC"
    return window.timezone


def _label(window: MaintenanceWindow, start: datetime, end: datetime) -> str:
    """The occurrence in the window's own local time, e.g. "Sat 22:00 - Sun 04:00 Europe/Berlin"."""
    if isinstance(window, AnyTimeWindow):
        return f"open any time ({window.timezone})"
    tz = window.start.tzinfo if isinstance(window, OneOffWindow) else ZoneInfo(window.timezone)
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if isinstance(window, OneOffWindow):
        head = local_start.strftime("%Y-%m-%d %H:%M")
    else:
        head = local_start.strftime("%a %H:%M")
    same_day = local_start.date() == local_end.date()
    tail = local_end.strftime("%H:%M" if same_day else "%a %H:%M")
    return f"{head} - {tail} {_zone(window)}"


def _windows(asset: Asset, since: datetime, until: datetime) -> tuple[WindowSpan, ...]:
    found: dict[tuple[datetime, datetime], WindowSpan] = {}
    for window in asset.maintenance_windows:
        for start, end in occurrences((window,), since, until).occurrences:
            if end > since and start < until:
                found.setdefault(
                    (start, end), WindowSpan(start=start, end=end, label=_label(window, start, end))
                )
    return tuple(found[key] for key in sorted(found))


def _zones(asset: Asset | None) -> tuple[str, ...]:
    if asset is None:
        return ()
    return tuple(dict.fromkeys(_zone(w) for w in asset.maintenance_windows))


def _axis(
    rows: Sequence[TimelineRow], holders: Sequence[tuple[datetime, datetime]], fallback: datetime
) -> tuple[datetime, datetime]:
    moments: list[datetime] = []
    for row in rows:
        moments += [m for m in (row.slot_start, row.reserve_end) if m is not None]
        moments += [m for p in row.phases for m in (p.start, p.end)]
    if not moments:
        return fallback, fallback + timedelta(hours=24)
    work_start, work_end = min(moments), max(moments)
    span = max(work_end - work_start, MIN_SPAN)
    pad, reach = span / 25, span / 4
    left = min((s for s, _ in holders), default=work_start)
    right = max((e for _, e in holders), default=work_end)
    start = work_start - min(max(work_start - left, pad), reach)
    end = work_end + min(max(right - work_end, pad), reach)
    return start, end


def _placed_row(host: WaveHost, wave: str, slot: datetime, asset: Asset | None) -> TimelineRow:
    end = slot + timedelta(minutes=host.duration_minutes)
    return TimelineRow(
        asset=host.name,
        zone=host.zone,
        timezones=_zones(asset),
        outcome=PLANNED,
        wave=wave,
        windows_known=asset is not None,
        slot_start=_utc(slot),
        slot_end=_utc(end),
        reserve_end=_utc(end + timedelta(minutes=host.rollback_minutes)),
        latest_start=_utc(host.latest_start),
    )


def _exclusion_placement(found: Sequence[Exclusion], plan: Plan | None) -> str:
    decisions = (
        {i.decision for i in plan.items for e in found if (i.asset, i.patch_id) == (e.asset, e.patch_id)}
        if plan
        else set()
    )
    if Decision.EXEMPT in decisions or any(e.exemption is not None for e in found):
        return "exempt"
    if Decision.BLOCKED in decisions:
        return "blocked"
    return "excluded"


def _outside_rows(wp: WavePlan, plan: Plan | None, placed: set[str]) -> list[TimelineRow]:
    """Held and left-out assets of a wave plan (no run): held first, then by placement and name."""
    assets = plan.asset_map() if plan else {}
    rows = [
        TimelineRow(
            asset=h.asset,
            zone=a.zone if (a := assets.get(h.asset)) else "",
            timezones=_zones(assets.get(h.asset)),
            outcome="held",
            reason=f"{h.reason}; released by {h.release}" if h.release else h.reason,
            windows_known=h.asset in assets,
        )
        for h in wp.holds
        if h.asset not in placed
    ]
    left: dict[str, list[Exclusion]] = {}
    for e in wp.exclusions:
        if e.asset not in placed and all(r.asset != e.asset for r in rows):
            left.setdefault(e.asset, []).append(e)
    for name, found in left.items():
        asset = assets.get(name)
        rows.append(
            TimelineRow(
                asset=name,
                zone=asset.zone if asset else "",
                timezones=_zones(asset),
                outcome=_exclusion_placement(found, plan),
                reason="; ".join(f"{e.patch_id}: {e.reason}" for e in found),
                windows_known=asset is not None,
            )
        )
    order = {p: n for n, p in enumerate(OUTSIDE_PLACEMENTS)}
    return sorted(rows, key=lambda r: (order.get(r.outcome, len(order)), r.asset))


def _visible(windows: tuple[WindowSpan, ...], start: datetime, end: datetime) -> tuple[WindowSpan, ...]:
    """Occurrences that look the same on the axis (a daily 48-hour window: yesterday's and today's both
    cover it) are drawn once, as the earliest: the one the stager's earliest fit would use."""
    seen: set[tuple[datetime, datetime]] = set()
    kept = []
    for window in windows:  # sorted by start
        clipped = (max(window.start, start), min(window.end, end))
        if clipped not in seen:
            seen.add(clipped)
            kept.append(window)
    return tuple(kept)


def _with_windows(row: TimelineRow, asset: Asset, start: datetime, end: datetime) -> TimelineRow:
    windows = _visible(_windows(asset, start, end), start, end)
    later = () if windows else _windows(asset, end, end + NEXT_WINDOW_LOOKAHEAD)
    return row.model_copy(update={"windows": windows, "next_window": later[0] if later else None})


def _finish(
    rows: list[TimelineRow], wp: WavePlan, plan: Plan | None, waves: tuple[WaveSlot, ...]
) -> WindowTimeline:
    """Cap the rows, fix the axis and fill in every drawn row's window occurrences."""
    shown, hidden = rows[:MAX_ROWS], max(len(rows) - MAX_ROWS, 0)
    holders = [(_utc(h.window_start), _utc(h.window_end)) for w in wp.waves for h in w.hosts]
    start, end = _axis(shown, holders, _utc(wp.created_at))
    assets = {**(plan.asset_map() if plan else {}), **wp.asset_map()}
    drawn = [
        _with_windows(row, assets[row.asset], start, end) if row.asset in assets else row for row in shown
    ]
    return WindowTimeline(
        start=start,
        end=end,
        staged_at=_utc(wp.created_at),
        waves=waves,
        rows=tuple(drawn),
        hidden_rows=hidden,
    )


def _planned(wp: WavePlan) -> tuple[list[TimelineRow], tuple[WaveSlot, ...]]:
    assets = wp.asset_map()
    rows = [_placed_row(h, w.name, w.slot_start, assets.get(h.name)) for w in wp.waves for h in w.hosts]
    waves = tuple(
        WaveSlot(index=w.index, name=w.name, start=_utc(w.slot_start), end=_utc(w.slot_end)) for w in wp.waves
    )
    return rows, waves


def plan_timeline(wp: WavePlan, plan: Plan | None = None) -> WindowTimeline:
    """The staged waves against the windows, before any run: every placed host's slot, and the held and
    left-out assets (their windows when `plan` is given)."""
    rows, waves = _planned(wp)
    placed = {r.asset for r in rows}
    return _finish([*rows, *_outside_rows(wp, plan, placed)], wp, plan, waves)


def run_timeline(
    wp: WavePlan | None, plan: Plan | None, hosts: Sequence[HostRow], outside: Sequence[OutsideRow]
) -> WindowTimeline | None:
    """The run's hosts (their own phase times and end states) against the windows and the planned slots.
    None without the wave plan (neither windows nor slots are known then)."""
    if wp is None:
        return None
    planned, slots = _planned(wp)
    by_host = {h.host: h for h in hosts}
    rows: list[TimelineRow] = []
    for row in planned:
        ran = by_host.get(row.asset)
        if ran is None:
            rows.append(row)
            continue
        phases = tuple(
            PhaseSpan(phase=p.phase.value, start=_utc(p.started_at), end=_utc(p.finished_at), ok=p.ok)
            for p in ran.phases
        )
        rows.append(
            row.model_copy(update={"outcome": ran.state.value, "phases": phases, "reason": ran.detail})
        )
    assets = plan.asset_map() if plan else {}
    order = {p: n for n, p in enumerate(OUTSIDE_PLACEMENTS)}
    for o in sorted(outside, key=lambda o: (order.get(o.placement, len(order)), o.host)):
        asset = assets.get(o.host)
        rows.append(
            TimelineRow(
                asset=o.host,
                zone=asset.zone if asset else "",
                timezones=_zones(asset),
                outcome=o.placement,
                reason=o.reason,
                windows_known=asset is not None,
            )
        )
    waves = tuple(_actual(slot, hosts) for slot in slots)
    return _finish(rows, wp, plan, waves)


def _actual(slot: WaveSlot, hosts: Sequence[HostRow]) -> WaveSlot:
    moments = [
        m for h in hosts if h.wave == slot.index for p in h.phases for m in (p.started_at, p.finished_at)
    ]
    if not moments:
        return slot
    return slot.model_copy(update={"actual_start": _utc(min(moments)), "actual_end": _utc(max(moments))})
