"""The window timeline (reporting/timeline.py): rows per asset with its windows in local time, the planned
slot and what ran; the axis follows the work. Staged for real with `stage_waves` from tests/fixtures."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from otorchestrator.models.asset import DAYS, AnyTimeWindow, RecurringWindow
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.results import HostOutcome, Phase
from otorchestrator.models.run import HostState
from otorchestrator.models.waves import WavePlan
from otorchestrator.planning.waves import stage_waves
from otorchestrator.reporting.models import HostRow, OutsideRow, PhaseTiming
from otorchestrator.reporting.timeline import MAX_ROWS, TimelineRow, plan_timeline, run_timeline


def _load(name: str) -> ModuleType:
    path = Path(__file__).parents[1] / "fixtures" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tp = _load("timeline_plan")


@pytest.fixture(scope="module")
def staged() -> WavePlan:
    return stage_waves(tp.plant_plan(), WavePolicy(), tp.NOW)


def _rows(rows: tuple[TimelineRow, ...]) -> dict[str, TimelineRow]:
    return {r.asset: r for r in rows}


def test_rows_in_wave_order_then_held_exempt_blocked(staged: WavePlan) -> None:
    timeline = plan_timeline(staged, tp.plant_plan())
    placed = [h.name for w in staged.waves for h in w.hosts]
    assert [r.asset for r in timeline.rows] == [
        *placed,
        "nw-scada-a",
        "nw-scada-b",
        "nw-sis-01",
        "nw-ews-01",
    ]
    by = _rows(timeline.rows)
    assert [by[n].outcome for n in ("nw-scada-a", "nw-sis-01", "nw-ews-01")] == ["held", "exempt", "blocked"]
    assert "needs a recorded approval" in by["nw-scada-a"].reason and "released by" in by["nw-scada-a"].reason
    assert "EX-12" in by["nw-sis-01"].reason and "not vendor-tested" in by["nw-ews-01"].reason
    assert all(by[n].outcome == "planned" and by[n].wave for n in placed)


def test_every_planned_slot_lies_in_a_window_of_its_own_asset(staged: WavePlan) -> None:
    """The staging promise drawn: slot start to the end of the rollback reserve inside one occurrence."""
    timeline = plan_timeline(staged, tp.plant_plan())
    placed = [r for r in timeline.rows if r.placed]
    assert len(placed) == 4
    for row in placed:
        assert row.slot_start and row.reserve_end and row.slot_end
        assert row.slot_start < row.slot_end < row.reserve_end
        assert any(w.start <= row.slot_start and row.reserve_end <= w.end for w in row.windows), row.asset
        assert timeline.start <= row.slot_start and row.reserve_end <= timeline.end


def test_windows_are_labelled_in_their_local_time_and_zone(staged: WavePlan) -> None:
    by = _rows(plan_timeline(staged, tp.plant_plan()).rows)
    assert [w.label for w in by["nw-hmi-02"].windows] == ["Sat 22:00 - Sun 04:00 Europe/Berlin"]
    hmi = by["nw-hmi-02"].windows[0]
    assert (hmi.start, hmi.end) == (
        datetime(2026, 11, 21, 21, tzinfo=UTC),
        datetime(2026, 11, 22, 3, tzinfo=UTC),
    )
    assert [w.label for w in by["nw-hist-01"].windows] == ["Sat 19:00 - Sun 00:00 America/Chicago"]
    assert by["nw-hist-01"].timezones == ("America/Chicago",)
    assert [w.label for w in by["nw-ews-01"].windows] == ["2026-11-21 09:00 - 13:00 UTC+0100"]
    # nothing of nw-scada-b's Sunday-night window is on the axis: the next occurrence is named instead
    assert by["nw-scada-b"].windows == ()
    nxt = by["nw-scada-b"].next_window
    assert nxt is not None and nxt.label == "Sun 22:00 - Mon 04:00 Europe/Berlin"


def test_the_axis_follows_the_work_not_a_long_window() -> None:
    """A 48-hour window around 80 minutes of waves: the axis widens by at most a quarter of the work."""
    long = RecurringWindow(days=("sat",), start=datetime(2026, 1, 1, 0, 0).time(), duration_minutes=2880)
    plan = tp.plant_plan()
    assets = tuple(a.model_copy(update={"maintenance_windows": (long,)}) for a in plan.assets)
    plan = plan.model_copy(update={"assets": assets}).sealed()
    wp = stage_waves(plan, WavePolicy(), tp.NOW)
    timeline = plan_timeline(wp, plan)
    work_start = min(w.slot_start for w in wp.waves)
    work_end = max(r.reserve_end for r in timeline.rows if r.reserve_end)
    work = work_end - work_start
    assert timeline.start <= work_start and work_end <= timeline.end
    assert (timeline.end - timeline.start) <= work * 1.5 + timedelta(seconds=1)
    # the window is clipped by the axis, its label keeps the whole occurrence
    row = timeline.rows[0]
    assert row.windows[0].end > timeline.end and row.windows[0].label == "Sat 00:00 - Mon 00:00 UTC"


def test_overlapping_occurrences_that_look_the_same_are_drawn_once() -> None:
    """The lab's windows: every day 00:00 for 48 hours. Two occurrences cover any moment; on a short axis
    they are one rectangle, labelled as the earlier one (which holds the slot)."""
    lab = RecurringWindow(days=DAYS, start=datetime(2026, 1, 1, 0, 0).time(), duration_minutes=2880)
    plan = tp.plant_plan()
    plan = plan.model_copy(
        update={"assets": tuple(a.model_copy(update={"maintenance_windows": (lab,)}) for a in plan.assets)}
    ).sealed()
    wp = stage_waves(plan, WavePolicy(), tp.NOW)
    timeline = plan_timeline(wp, plan)
    first = timeline.rows[0]
    assert timeline.end - timeline.start < timedelta(days=1)
    assert [w.label for w in first.windows] == ["Thu 00:00 - Sat 00:00 UTC"]
    host = wp.waves[0].hosts[0]
    assert (first.windows[0].start, first.windows[0].end) == (host.window_start, host.window_end)


def test_an_any_time_window_covers_the_whole_axis() -> None:
    plan = tp.plant_plan()
    gateway = AnyTimeWindow(any_time=True, timezone="Europe/Berlin")
    assets = tuple(
        a.model_copy(update={"maintenance_windows": (gateway,)}) if a.name == "nw-gw-01" else a
        for a in plan.assets
    )
    plan = plan.model_copy(update={"assets": assets}).sealed()
    timeline = plan_timeline(stage_waves(plan, WavePolicy(), tp.NOW), plan)
    (window,) = _rows(timeline.rows)["nw-gw-01"].windows
    assert window.label == "open any time (Europe/Berlin)"
    assert window.start <= timeline.start and timeline.end <= window.end


def test_without_the_plan_outside_assets_have_no_windows(staged: WavePlan) -> None:
    by = _rows(plan_timeline(staged).rows)
    assert by["nw-scada-a"].windows_known is False and by["nw-scada-a"].windows == ()
    assert by["nw-hmi-02"].windows_known and by["nw-hmi-02"].windows  # placed hosts: the wave plan's assets


def test_a_huge_plan_draws_the_first_rows_and_counts_the_rest(staged: WavePlan) -> None:
    wave = staged.waves[0]
    host = wave.hosts[0]
    many = tuple(host.model_copy(update={"name": f"h-{n:04d}"}) for n in range(MAX_ROWS + 25))
    assets = tuple(staged.assets[0].model_copy(update={"name": h.name}) for h in many)
    big = staged.model_copy(update={"waves": (wave.model_copy(update={"hosts": many}),), "assets": assets})
    timeline = plan_timeline(big)
    assert len(timeline.rows) == MAX_ROWS and timeline.hidden_rows == 25 + 4  # + the held and left out


def _timing(phase: Phase, start: datetime, seconds: float, ok: bool = True) -> PhaseTiming:
    return PhaseTiming(
        phase=phase,
        started_at=start,
        finished_at=start + timedelta(seconds=seconds),
        duration_s=seconds,
        ok=ok,
        outcome=HostOutcome.OK if ok else HostOutcome.FAILED,
    )


def test_run_rows_carry_each_hosts_own_phases_and_end_state(staged: WavePlan) -> None:
    gw_wave = staged.host_waves()["nw-gw-01"]
    start = staged.waves[gw_wave].slot_start + timedelta(minutes=2)
    phases = (
        _timing(Phase.DIAGNOSTICS, start, 5),
        _timing(Phase.INSTALL, start + timedelta(seconds=5), 60),
        _timing(Phase.VERIFY, start + timedelta(seconds=65), 30, ok=False),
        _timing(Phase.ROLLBACK, start + timedelta(seconds=95), 40),
    )
    hosts = [
        HostRow(
            host="nw-gw-01", wave=gw_wave, state=HostState.ROLLED_BACK, detail="restored 1.0.0", phases=phases
        )
    ]
    outside = [
        OutsideRow(host="nw-sis-01", placement="exempt", patches=("NWC-P-HMI",), reason="exempt by EX-12"),
        OutsideRow(host="nw-scada-a", placement="held", patches=("NWC-P-SCADA",), reason="needs an approval"),
    ]
    timeline = run_timeline(staged, tp.plant_plan(), hosts, outside)
    assert timeline is not None
    by = _rows(timeline.rows)
    gw = by["nw-gw-01"]
    assert gw.outcome == "rolled_back" and [p.phase for p in gw.phases] == [
        "diagnostics",
        "install",
        "verify",
        "rollback",
    ]
    assert [p.ok for p in gw.phases] == [True, True, False, True]
    assert gw.phases[0].start == start and gw.slot_start == staged.waves[gw_wave].slot_start
    # hosts of the wave plan the run has no row for stay planned; the outside rows: held before exempt
    assert by["nw-hmi-02"].outcome == "planned" and not by["nw-hmi-02"].phases
    assert [r.asset for r in timeline.rows][-2:] == ["nw-scada-a", "nw-sis-01"]
    assert by["nw-sis-01"].windows_known and by["nw-sis-01"].reason == "exempt by EX-12"
    wave = next(w for w in timeline.waves if w.index == gw_wave)
    assert wave.actual_start == start and wave.actual_end == start + timedelta(seconds=135)
    assert all(w.actual_start is None for w in timeline.waves if w.index != gw_wave)


def test_no_wave_plan_no_timeline() -> None:
    assert run_timeline(None, None, [], []) is None


def test_the_run_report_carries_the_timeline_of_its_own_hosts(tmp_path: Path) -> None:
    """build_run_report puts RunReport.timeline together from the run's wave plan: each host's row holds
    that host's own phase times (the host table's), and the JSON report carries it."""
    from otorchestrator.reporting.build import build_run_report
    from otorchestrator.reporting.render import render_json, render_run_html
    from otorchestrator.reporting.sources import load_run_sources

    fx = _load("report_store")
    run = fx.make_run_store(tmp_path)
    report = build_run_report(load_run_sources(run.paths, run.run_id), run.finished_at)
    assert report.timeline is not None
    by = _rows(report.timeline.rows)
    for host in report.hosts:
        row = by[host.host]
        assert row.outcome == host.state.value
        assert [(p.phase, p.start, p.end) for p in row.phases] == [
            (t.phase.value, t.started_at, t.finished_at) for t in host.phases
        ]
    assert '"timeline"' in render_json(report) and 'id="window-timeline"' in render_run_html(report)
    # without its wave plan a run has no windows to draw: no timeline, and the page says nothing of it
    bare = build_run_report(
        load_run_sources(run.paths, run.run_id, waveplan_path=tmp_path / "missing.json"), run.finished_at
    )
    assert bare.timeline is None and 'id="window-timeline"' not in render_run_html(bare)
