"""The HTML run report as a browser sees it: headless Chromium (Debian's `chromium`) renders the file,
takes a screenshot and dumps the DOM. No network: the page is self-contained.

The screenshot check is by layout: a copy of the report with a probe script (the report has none) tells where
Chromium placed each host row's state badge, phase bars, the timeline bars and the failure excerpts, at the
same viewport and device scale 1; the screenshot of the unmodified report must then show, in those boxes, the
colours the run implies (blocked host plum, rolled-back amber, succeeded green, the failed phase red, ...).
The window timeline is checked the same way: every asset's row (held, exempt and blocked ones too), each
host's phase bars inside one of its window rectangles. Chromium, the PNG decoder and the probe helpers are in
_browser.py; the screenshots are kept under out/screenshots (docs/img holds a committed copy)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from _browser import (
    CHROMIUM,
    NO_CHROMIUM,
    TIMELINE_PROBE,
    Png,
    chromium,
    hex_rgb,
    inside,
    load_fixture,
    probe_layout,
    screenshot_of,
    share,
    union,
)

from otorchestrator.models.asset import OneOffWindow, RecurringWindow
from otorchestrator.models.plan import Decision, Plan, PlanItem
from otorchestrator.models.waves import Exclusion, Hold, Rule, WavePlan
from otorchestrator.reporting import timeline_svg
from otorchestrator.reporting.build import build_run_report
from otorchestrator.reporting.redact import ReportRedactor
from otorchestrator.reporting.render import OUTCOME_COLOURS, PHASE_COLOURS, render_run_html
from otorchestrator.reporting.sources import load_run_sources

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fx = load_fixture("report_store")
    root = tmp_path_factory.mktemp("browser")
    run = fx.make_run_store(root)
    report = build_run_report(
        load_run_sources(run.paths, run.run_id), run.finished_at, ReportRedactor([fx.SECRET])
    )
    path = root / "report.html"
    path.write_text(render_run_html(report), encoding="utf-8")
    return path


def test_dom_holds_the_expected_content(report_file: Path, tmp_path: Path) -> None:
    proc = chromium(tmp_path, "--dump-dom", report_file.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "<title>otorch run report R-2026-0001</title>" in dom
    for expected in (
        'id="run-status">completed<',
        "Wave timeline",
        "canary",
        "wave-1",
        "nw-hmi-02",
        "nw-gw-01",
        "service_running:nwc-gateway",  # the failing check
        "1 MiB free on /opt/nwc, 20 MiB needed",  # the blocked host's check detail
        "verification failed: service_running:nwc-gateway",  # the rollback's reason
        # the rollback proof
        "restored from backup bk-gw: archive verified against its manifest; nwc-gateway 1.0.0 (ii)",
        "nwc-gateway 1.0.0 -&gt; 1.1.0 attempted -&gt; rolled back to 1.0.0",
        "chain intact",
        "***REDACTED***",
    ):
        assert expected in dom, expected
    # a blocked host (refused by diagnostics, unchanged) is no failure: counted apart
    assert 'id="failure-count">1<' in dom and 'id="rollback-count">1<' in dom
    assert 'id="blocked-count">1<' in dom
    assert "hunter2" not in dom and "s3cr3t-become" not in dom
    head = report_file.read_text(encoding="utf-8").split('id="audit-head">seq ', 1)[1].split("<", 1)[0]
    assert "sha256:" in head and head in dom


# Injected into a copy of the report for `--dump-dom` only (the report itself has no script): where the
# browser laid out the elements the screenshot check looks at, as CSS-pixel boxes [left, top, width, height].
PROBE = """<script>
(function () {
  function box(el) { var r = el.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }
  var out = {page: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
             status: box(document.getElementById("run-status")), rows: {}, timeline: []};
  document.querySelectorAll("#host-table tbody tr").forEach(function (tr) {
    var badge = tr.querySelector(".badge");
    out.rows[tr.querySelector("strong").textContent.trim()] = {
      name: box(tr.querySelector("strong")), badge: box(badge), state: badge.textContent.trim(),
      bars: Array.prototype.map.call(tr.querySelectorAll(".track .bar"),
        function (b) { return {box: box(b), title: b.title}; })};
  });
  document.querySelectorAll(".timeline-row").forEach(function (row) {
    out.timeline.push({label: row.querySelector("strong").textContent.trim(),
                       bar: box(row.querySelector(".bar")), track: box(row.querySelector(".track")),
                       segs: Array.prototype.map.call(row.querySelectorAll(".seg"),
                         function (s) { return {box: box(s), state: s.className.replace("seg ", "")}; })});
  });
  var cards = document.querySelectorAll(".card.fail, .card.refused");
  out.excerpts = Array.prototype.map.call(cards, function (card) {
    return {host: card.querySelector("h3").textContent.split(" ")[0], box: box(card.querySelector("pre"))};
  });
  document.documentElement.setAttribute("data-layout", JSON.stringify(out));
})();
</script>"""

VIEWPORT = (1280, 2400)
GREEN, RED, AMBER, TRACK = hex_rgb("#2bb673"), hex_rgb("#e5484d"), hex_rgb("#f0a202"), hex_rgb("#eef1f6")
PLUM = hex_rgb("#a3458f")  # blocked: refused by diagnostics, nothing changed (not the failure red)
INK = hex_rgb("#1d2330")


def _layout(report_file: Path, tmp_path: Path) -> dict[str, Any]:
    return probe_layout(report_file, tmp_path, VIEWPORT, PROBE)


@pytest.fixture(scope="module")
def screenshot(report_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Png, dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("shot")
    return screenshot_of(report_file, tmp_path, VIEWPORT, "run-report.png"), _layout(report_file, tmp_path)


def test_screenshot_has_the_viewport_and_the_layout_fits(screenshot: tuple[Png, dict[str, Any]]) -> None:
    png, layout = screenshot
    assert (png.width, png.height) == VIEWPORT
    assert layout["page"][0] <= VIEWPORT[0], "the page scrolls sideways"
    assert set(layout["rows"]) == {"nw-hmi-02", "nw-hmi-01", "nw-gw-01", "nw-hist-01"}
    bottom = max(r["badge"][1] + r["badge"][3] for r in layout["rows"].values())
    assert bottom < VIEWPORT[1], "the host table is below the screenshot"


def test_screenshot_shows_each_hosts_state_in_its_colour(screenshot: tuple[Png, dict[str, Any]]) -> None:
    png, layout = screenshot
    rows = layout["rows"]
    expected = {"nw-hmi-02": GREEN, "nw-hmi-01": GREEN, "nw-gw-01": AMBER, "nw-hist-01": PLUM}
    for host, colour in expected.items():
        badge = png.region(rows[host]["badge"])
        assert share(badge, colour) > 0.5, f"{host} ({rows[host]['state']}): its state badge is not {colour}"
        # the host name is drawn (dark text) where the DOM put it
        name = png.region(rows[host]["name"], inset=0)
        assert sum(1 for p in name if sum(p) < 300) > 40, f"{host}: no text where its name should be"
    assert share(png.region(layout["status"]), GREEN) > 0.5, "the run status badge is not green (completed)"


def test_screenshot_shows_the_phase_bars_in_their_colours(screenshot: tuple[Png, dict[str, Any]]) -> None:
    """Each phase bar is drawn in its phase's colour, a failed phase red (and only a failed one)."""
    png, layout = screenshot
    for host, failed in (("nw-gw-01", "verify"), ("nw-hist-01", "diagnostics"), ("nw-hmi-02", None)):
        bars = layout["rows"][host]["bars"]
        phases = [bar["title"].split(":")[0] for bar in bars]
        assert (failed is None or failed in phases) and len(bars) >= 1, (host, phases)
        for bar, phase in zip(bars, phases, strict=True):
            if bar["box"][2] < 4:  # too thin to sample
                continue
            pixels = png.region(bar["box"])
            colour = RED if phase == failed else hex_rgb(PHASE_COLOURS[phase])
            assert share(pixels, colour) > 0.9, f"{host}: the {phase} bar is not {colour}"
            if phase != failed:
                assert share(pixels, RED) < 0.1, f"{host}: the {phase} bar is red although the phase passed"
    assert [b["title"].split(":")[0] for b in layout["rows"]["nw-gw-01"]["bars"]][-1] == "rollback"


def test_screenshot_shows_the_wave_timeline(screenshot: tuple[Png, dict[str, Any]]) -> None:
    png, layout = screenshot
    timeline = {t["label"]: t for t in layout["timeline"]}
    assert list(timeline) == ["canary", "wave-1"]
    # colours per host outcome: canary all succeeded -> green; wave-1 (1 succeeded, 1 rolled back, 1 blocked)
    # -> a third each of green, amber and plum, never all red
    assert share(png.region(timeline["canary"]["bar"]), GREEN) > 0.9, "canary: the timeline bar is not green"
    segs = {s["state"]: s["box"] for s in timeline["wave-1"]["segs"]}
    assert set(segs) == {"succeeded", "rolled_back", "blocked"}, segs
    for state, colour in (("succeeded", GREEN), ("rolled_back", AMBER), ("blocked", PLUM)):
        assert segs[state][2] == pytest.approx(timeline["wave-1"]["bar"][2] / 3, abs=2), state
        if segs[state][2] > 4:
            assert share(png.region(segs[state]), colour) > 0.9, f"wave-1: the {state} share is not {colour}"
    assert share(png.region(timeline["wave-1"]["bar"]), RED) < 0.05, "wave-1 is drawn red"
    for label in ("canary", "wave-1"):
        bar, track = timeline[label]["bar"], timeline[label]["track"]
        assert bar[2] > 4, f"{label}: bar too thin"
        assert track[2] > bar[2] + 20, f"{label}: the bar fills the whole track"
    # the canary ran first: its bar starts left of wave-1's, and wave-1's track is empty before it
    canary, wave1 = timeline["canary"], timeline["wave-1"]
    assert canary["bar"][0] < wave1["bar"][0]
    before = [wave1["track"][0], wave1["track"][1], wave1["bar"][0] - wave1["track"][0], wave1["track"][3]]
    if before[2] > 4:
        assert share(png.region(before), TRACK) > 0.9, "wave-1's track is not empty before its bar"


def test_screenshot_shows_each_failures_output_excerpt(screenshot: tuple[Png, dict[str, Any]]) -> None:
    png, layout = screenshot
    assert [e["host"] for e in layout["excerpts"]] == ["nw-gw-01", "nw-hist-01"]
    for excerpt in layout["excerpts"]:
        pixels = png.region(excerpt["box"], inset=2)
        assert share(pixels, INK, 6) > 0.6, f"{excerpt['host']}: no dark output excerpt block"
        assert sum(1 for p in pixels if min(p) > 200) > 50, f"{excerpt['host']}: the excerpt has no text"


# -- the run against its maintenance windows (reporting/timeline_svg.py in the run report) -------------------
# The fixture run (Sunday 2026-03-01 02:00-02:02 UTC) with a wave plan whose hosts' windows hold it, in three
# zones, and a plan that also holds a held, an exempt and a blocked asset: what `otorch report run --plan`
# shows after a rollout where some assets were kept out.
BERLIN = RecurringWindow(days=("sun",), start=time(2, 30), duration_minutes=75, timezone="Europe/Berlin")
BERLIN_3H = RecurringWindow(days=("sun",), start=time(2, 30), duration_minutes=180, timezone="Europe/Berlin")


def _sunday(start: time, minutes: int) -> RecurringWindow:
    return RecurringWindow(days=("sun",), start=start, duration_minutes=minutes, timezone="Europe/Berlin")


CHICAGO = RecurringWindow(days=("sat",), start=time(19, 30), duration_minutes=150, timezone="America/Chicago")
WINDOWS = {
    "nw-hmi-02": BERLIN,  # 01:30-02:45 UTC: the canary's, ends inside the picture
    "nw-hmi-01": BERLIN_3H,
    "nw-gw-01": RecurringWindow(days=("sun",), start=time(1, 45), duration_minutes=105),
    "nw-hist-01": CHICAGO,  # Saturday 19:30 local is Sunday 01:30 UTC
    "nw-scada-a": RecurringWindow(
        days=("sun",), start=time(3, 0), duration_minutes=120, timezone="Europe/Berlin"
    ),
    "nw-ews-01": OneOffWindow(
        start=datetime.fromisoformat("2026-03-01T03:00:00+01:00"),
        end=datetime.fromisoformat("2026-03-01T03:40:00+01:00"),
    ),
    "nw-sis-01": RecurringWindow(
        days=("sun",), start=time(3, 15), duration_minutes=60, timezone="Europe/Berlin"
    ),
}


def _windowed(fx: Any, root: Path) -> tuple[Path, Path]:
    """The fixture's wave plan and plan, with the windows above and the kept-out assets (written to files)."""
    more = (
        fx.asset("nw-scada-a", fx.Role.SCADA_SERVER, "supervisory", fx.Criticality.HIGH),
        fx.asset("nw-sis-01", fx.Role.SERVER, "sis", fx.Criticality.CRITICAL),
    )
    assets = {
        a.name: a.model_copy(update={"maintenance_windows": (WINDOWS[a.name],)}) for a in (*fx.ASSETS, *more)
    }
    wp: WavePlan = fx.waveplan()
    waves = []
    for wave in wp.waves:
        hosts = []
        for h in wave.hosts:
            start, end = WINDOWS[h.name].occurrence_containing(wave.slot_start) or (None, None)
            assert start and end, f"{h.name}: its window does not hold its slot"
            hosts.append(h.model_copy(update={"window_start": start, "window_end": end, "latest_start": end}))
        waves.append(wave.model_copy(update={"hosts": tuple(hosts)}))
    wp = wp.model_copy(
        update={
            "assets": tuple(assets[a.name] for a in wp.assets),
            "waves": tuple(waves),
            "holds": (
                Hold(
                    asset="nw-scada-a",
                    patch_ids=("NWC-P-SCADA",),
                    rule=Rule.APPROVAL,
                    reason="criticality high: needs a recorded approval",
                    release="a signed asset approval of nw-scada-a",
                ),
            ),
            "exclusions": (
                Exclusion(
                    asset="nw-ews-01", patch_id="NWC-P-EWS", rule=Rule.DECISION, reason="exempt by EX-7"
                ),
                Exclusion(
                    asset="nw-sis-01",
                    patch_id="NWC-P-SIS",
                    rule=Rule.DECISION,
                    reason="blocked by the plan: not vendor-tested, no override recorded",
                ),
            ),
        }
    )
    base: Plan = fx.plan(fx.T0 - timedelta(days=1), fx.T0 + timedelta(days=30))
    extra = (
        PlanItem(
            asset="nw-scada-a",
            patch_id="NWC-P-SCADA",
            cves=("CVE-2026-10101",),
            decision=Decision.OUT_OF_CYCLE,
            priority_rank=6,
        ),
        PlanItem(
            asset="nw-sis-01",
            patch_id="NWC-P-SIS",
            cves=("CVE-2026-10106",),
            decision=Decision.BLOCKED,
            priority_rank=7,
        ),
    )
    plan = base.model_copy(update={"assets": tuple(assets.values()), "items": (*base.items, *extra)})
    wp_path, plan_path = root / "waves-windowed.json", root / "plan-windowed.json"
    wp_path.write_text(wp.model_dump_json(), encoding="utf-8")
    plan_path.write_text(plan.model_dump_json(), encoding="utf-8")
    return wp_path, plan_path


WINDOWED_VIEWPORT = (1280, 1500)


@pytest.fixture(scope="module")
def windowed_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fx = load_fixture("report_store")
    root = tmp_path_factory.mktemp("windowed")
    run = fx.make_run_store(root)
    wp_path, plan_path = _windowed(fx, root)
    sources = load_run_sources(run.paths, run.run_id, waveplan_path=wp_path, plan_path=plan_path)
    report = build_run_report(sources, run.finished_at, ReportRedactor([fx.SECRET]))
    path = root / "report-windowed.html"
    html = render_run_html(report)
    # the picture first: the same report, cut after the window timeline's section (the rest is tested above)
    path.write_text(html, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def windowed_shot(
    windowed_report: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Png, dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("windowed-shot")
    page = tmp_path / "timeline-first.html"
    # scrolled to the timeline: the screenshot starts at its section (an anchor jump needs no script)
    text = windowed_report.read_text(encoding="utf-8")
    top, section = text.index("<main>") + len("<main>"), text.index('<h2 id="timeline">')
    page.write_text(text[:top] + text[section:], encoding="utf-8")
    png = screenshot_of(page, tmp_path, WINDOWED_VIEWPORT, "run-report-windows.png")
    return png, probe_layout(page, tmp_path, WINDOWED_VIEWPORT, TIMELINE_PROBE)


def test_run_report_timeline_has_every_asset_placed_held_exempt_blocked(
    windowed_shot: tuple[Png, dict[str, Any]],
) -> None:
    png, layout = windowed_shot
    rows = layout["rows"]
    assert {n: r["outcome"] for n, r in rows.items()} == {
        "nw-hmi-02": "succeeded",
        "nw-hmi-01": "succeeded",
        "nw-gw-01": "rolled_back",
        "nw-hist-01": "blocked",
        "nw-scada-a": "held",
        "nw-ews-01": "exempt",
        "nw-sis-01": "blocked",
    }
    svg = layout["svg"]
    assert svg[1] + svg[3] < WINDOWED_VIEWPORT[1] and svg[0] + svg[2] <= WINDOWED_VIEWPORT[0]
    for name in ("nw-scada-a", "nw-ews-01", "nw-sis-01"):
        row = rows[name]
        assert len(row["pill"]) == 1 and not row["phases"], name
        pill = share(png.region(row["pill"][0], inset=3), hex_rgb(PALETTE(row["outcome"])))
        assert pill > 0.4, f"{name}: its {row['outcome']} pill is not drawn in its colour"
        assert row["windows"], f"{name}: its window (from the plan) is not drawn"


def test_run_report_timeline_bars_lie_inside_the_window_rectangles(
    windowed_shot: tuple[Png, dict[str, Any]],
) -> None:
    """Each host's phases, as the browser drew them, lie inside one of its window rectangles, in the colour
    of its outcome (the failed phase red), with the window's blue around them."""
    png, layout = windowed_shot
    for name in ("nw-hmi-02", "nw-hmi-01", "nw-gw-01", "nw-hist-01"):
        row = layout["rows"][name]
        bars = [p["box"] for p in row["phases"]]
        assert bars, f"{name}: no phase bars"
        ran = union(bars)
        assert any(inside(ran, w) for w in row["windows"]), (
            f"{name}: ran outside its windows {row['windows']}"
        )
        holder = next(w for w in row["windows"] if inside(ran, w))
        left = [holder[0], holder[1], max(ran[0] - holder[0] - 1, 0), holder[3]]
        if left[2] > 4:
            assert share(png.region(left, inset=2), WINDOW_BLUE) > 0.4, (
                f"{name}: no window blue before the bars"
            )
        colour = hex_rgb(PALETTE(row["outcome"]))
        for phase in row["phases"]:
            box = phase["box"]
            if box[2] < 3:  # too thin to sample
                continue
            want = hex_rgb(timeline_svg.FAILED_PHASE) if not phase["ok"] else colour
            assert share(png.region(box, inset=1 if box[2] >= 4 else 0), want) > 0.6, (
                name,
                phase["phase"],
                want,
            )
    gw = layout["rows"]["nw-gw-01"]["phases"]
    assert [(p["phase"], p["ok"]) for p in gw][-2:] == [("verify", False), ("rollback", True)]
    # the canary's window closes inside the picture: its rectangle ends before the axis does
    hmi = layout["rows"]["nw-hmi-02"]["windows"]
    ends = [w[0] + w[2] for w in layout["rows"]["nw-gw-01"]["windows"]]
    assert len(hmi) == 1 and hmi[0][0] + hmi[0][2] < max(ends) - 50


def test_run_report_timeline_bands_show_when_each_wave_ran(windowed_shot: tuple[Png, dict[str, Any]]) -> None:
    png, layout = windowed_shot
    waves = layout["waves"]
    assert list(waves) == ["canary", "wave-1"]
    canary, wave1 = waves["canary"]["ran"][0], waves["wave-1"]["ran"][0]
    assert canary[0] < wave1[0], "the canary ran first"
    for box in (canary, wave1):
        assert share(png.region(box, inset=1), hex_rgb("#1d2330")) > 0.8, "a wave's run span is not drawn"


PALETTE = timeline_svg.Palette(OUTCOME_COLOURS)
WINDOW_BLUE = hex_rgb(timeline_svg.WINDOW_FILL)
