"""The HTML run report as a browser sees it: headless Chromium (Debian's `chromium`) renders the file,
takes a screenshot and dumps the DOM. No network: the page is self-contained.

The screenshot check is by layout: a copy of the report with a probe script (the report has none) tells where
Chromium placed each host row's state badge, phase bars, the timeline bars and the failure excerpts, at the
same viewport and device scale 1; the screenshot of the unmodified report must then show, in those boxes, the
colours the run implies (blocked host red, rolled-back amber, succeeded green, the failed phase red, ...)."""

from __future__ import annotations

import html
import importlib.util
import itertools
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import xmlschema
from click.testing import CliRunner
from markdown_it import MarkdownIt

from otorchestrator.cli.waves import waves
from otorchestrator.models.waves import WavePlan
from otorchestrator.reporting import timeline_svg
from otorchestrator.reporting.build import build_run_report
from otorchestrator.reporting.redact import ReportRedactor
from otorchestrator.reporting.render import PHASE_COLOURS, junit_schema_path, render_run_html
from otorchestrator.reporting.sources import load_run_sources
from otorchestrator.reporting.write import write_run_reports

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install -y chromium); CI installs it",
)


def _load(name: str) -> ModuleType:
    """A module of tests/fixtures, loaded by path."""
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parents[1] / "fixtures" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _fixture_module() -> ModuleType:
    return _load("report_store")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--force-device-scale-factor=1",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


RGB = tuple[int, int, int]


class Png:
    """An 8-bit RGB/RGBA non-interlaced PNG decoded with the stdlib: `pixel(x, y)` is (r, g, b)."""

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
        pos, idat, header = 8, b"", b""
        while pos < len(data):
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
            if kind == b"IHDR":
                header = body
            elif kind == b"IDAT":
                idat += body
            pos += 12 + length
        width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
        assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type, interlace)
        self.width, self.height, self.bpp = width, height, 3 if colour_type == 2 else 4
        raw, stride, bpp = zlib.decompress(idat), width * self.bpp, self.bpp
        previous = bytearray(stride)
        self.rows: list[bytes] = []
        for y in range(height):
            start = y * (stride + 1)
            kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
            if kind == 2:
                line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
            elif kind in (1, 3, 4):
                for i in range(stride):
                    left = line[i - bpp] if i >= bpp else 0
                    up, up_left = previous[i], previous[i - bpp] if i >= bpp else 0
                    if kind == 1:
                        line[i] = (line[i] + left) & 0xFF
                    elif kind == 3:
                        line[i] = (line[i] + (left + up) // 2) & 0xFF
                    else:
                        p = left + up - up_left
                        pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                        pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                        line[i] = (line[i] + pred) & 0xFF
            self.rows.append(bytes(line))
            previous = line

    def pixel(self, x: int, y: int) -> RGB:
        row, i = self.rows[y], x * self.bpp
        return row[i], row[i + 1], row[i + 2]

    def region(self, box: Sequence[float], inset: int = 1) -> list[RGB]:
        """The pixels of a CSS box [left, top, width, height] (device scale 1), `inset` pixels inside it."""
        left, top, width, height = box
        x0, y0 = math.ceil(left) + inset, math.ceil(top) + inset
        x1, y1 = math.floor(left + width) - inset, math.floor(top + height) - inset
        assert x0 < x1 and y0 < y1 and x1 <= self.width and y1 <= self.height, (
            f"box {box} not on the screenshot"
        )
        return [self.pixel(x, y) for y in range(y0, y1) for x in range(x0, x1)]


def _hex(colour: str) -> RGB:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _share(pixels: Sequence[RGB], colour: RGB, tolerance: int = 12) -> float:
    """How much of `pixels` is `colour` (sum of channel differences within `tolerance`)."""
    near = sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, colour, strict=True)) <= tolerance)
    return near / len(pixels)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fx = _fixture_module()
    root = tmp_path_factory.mktemp("browser")
    run = fx.make_run_store(root)
    report = build_run_report(
        load_run_sources(run.paths, run.run_id), run.finished_at, ReportRedactor([fx.SECRET])
    )
    path = root / "report.html"
    path.write_text(render_run_html(report), encoding="utf-8")
    return path


def test_dom_holds_the_expected_content(report_file: Path, tmp_path: Path) -> None:
    proc = _chromium(tmp_path, "--dump-dom", report_file.as_uri())
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
        "restored from backup bk-gw: nwc-gateway 1.0.0 (ii)",  # the rollback proof
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
GREEN, RED, AMBER, TRACK = _hex("#2bb673"), _hex("#e5484d"), _hex("#f0a202"), _hex("#eef1f6")
PLUM = _hex("#a3458f")  # blocked: refused by diagnostics, nothing changed (not the failure red)
INK = _hex("#1d2330")


def _layout(report_file: Path, tmp_path: Path) -> dict[str, Any]:
    probe = tmp_path / "probe.html"
    probe.write_text(report_file.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), "utf-8")
    proc = _chromium(tmp_path, f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "--dump-dom", probe.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'data-layout="([^"]*)"', proc.stdout)
    assert found, "the layout probe did not run"
    layout: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return layout


@pytest.fixture(scope="module")
def screenshot(report_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Png, dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("shot")
    shot = tmp_path / "report.png"
    proc = _chromium(
        tmp_path, f"--screenshot={shot}", f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", report_file.as_uri()
    )
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    return Png(shot), _layout(report_file, tmp_path)


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
        assert _share(badge, colour) > 0.5, f"{host} ({rows[host]['state']}): its state badge is not {colour}"
        # the host name is drawn (dark text) where the DOM put it
        name = png.region(rows[host]["name"], inset=0)
        assert sum(1 for p in name if sum(p) < 300) > 40, f"{host}: no text where its name should be"
    assert _share(png.region(layout["status"]), GREEN) > 0.5, "the run status badge is not green (completed)"


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
            colour = RED if phase == failed else _hex(PHASE_COLOURS[phase])
            assert _share(pixels, colour) > 0.9, f"{host}: the {phase} bar is not {colour}"
            if phase != failed:
                assert _share(pixels, RED) < 0.1, f"{host}: the {phase} bar is red although the phase passed"
    assert [b["title"].split(":")[0] for b in layout["rows"]["nw-gw-01"]["bars"]][-1] == "rollback"


def test_screenshot_shows_the_wave_timeline(screenshot: tuple[Png, dict[str, Any]]) -> None:
    png, layout = screenshot
    timeline = {t["label"]: t for t in layout["timeline"]}
    assert list(timeline) == ["canary", "wave-1"]
    # colours per host outcome: canary all succeeded -> green; wave-1 (1 succeeded, 1 rolled back, 1 blocked)
    # -> a third each of green, amber and plum, never all red
    assert _share(png.region(timeline["canary"]["bar"]), GREEN) > 0.9, "canary: the timeline bar is not green"
    segs = {s["state"]: s["box"] for s in timeline["wave-1"]["segs"]}
    assert set(segs) == {"succeeded", "rolled_back", "blocked"}, segs
    for state, colour in (("succeeded", GREEN), ("rolled_back", AMBER), ("blocked", PLUM)):
        assert segs[state][2] == pytest.approx(timeline["wave-1"]["bar"][2] / 3, abs=2), state
        if segs[state][2] > 4:
            assert _share(png.region(segs[state]), colour) > 0.9, f"wave-1: the {state} share is not {colour}"
    assert _share(png.region(timeline["wave-1"]["bar"]), RED) < 0.05, "wave-1 is drawn red"
    for label in ("canary", "wave-1"):
        bar, track = timeline[label]["bar"], timeline[label]["track"]
        assert bar[2] > 4, f"{label}: bar too thin"
        assert track[2] > bar[2] + 20, f"{label}: the bar fills the whole track"
    # the canary ran first: its bar starts left of wave-1's, and wave-1's track is empty before it
    canary, wave1 = timeline["canary"], timeline["wave-1"]
    assert canary["bar"][0] < wave1["bar"][0]
    before = [wave1["track"][0], wave1["track"][1], wave1["bar"][0] - wave1["track"][0], wave1["track"][3]]
    if before[2] > 4:
        assert _share(png.region(before), TRACK) > 0.9, "wave-1's track is not empty before its bar"


def test_screenshot_shows_each_failures_output_excerpt(screenshot: tuple[Png, dict[str, Any]]) -> None:
    png, layout = screenshot
    assert [e["host"] for e in layout["excerpts"]] == ["nw-gw-01", "nw-hist-01"]
    for excerpt in layout["excerpts"]:
        pixels = png.region(excerpt["box"], inset=2)
        assert _share(pixels, INK, 6) > 0.6, f"{excerpt['host']}: no dark output excerpt block"
        assert sum(1 for p in pixels if min(p) > 200) > 50, f"{excerpt['host']}: the excerpt has no text"


# -- the window timeline (reporting/timeline_svg.py) as a person sees it ------------------------------------
# Screenshots are kept as test artifacts (CI uploads out/); docs/img holds a committed copy (docs/reports.md).
ARTIFACTS = Path(os.environ.get("OTORCH_TEST_ARTIFACTS") or Path(__file__).parents[2] / "out" / "screenshots")

# Where the browser put each row of the window timeline and what is drawn in it, as CSS-pixel boxes.
TIMELINE_PROBE = """<script>
(function () {
  function box(el) { var r = el.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }
  function all(root, sel) { return Array.prototype.map.call(root.querySelectorAll(sel), box); }
  var svg = document.getElementById("window-timeline"), out = {svg: box(svg), rows: {}, waves: {},
             page: [document.documentElement.scrollWidth, document.documentElement.scrollHeight]};
  svg.querySelectorAll("g.tl-row").forEach(function (g) {
    out.rows[g.getAttribute("data-asset")] = {
      outcome: g.getAttribute("data-outcome"), name: box(g.querySelector(".tl-name")),
      windows: all(g, ".tl-window"), slot: all(g, ".tl-slot"), reserve: all(g, ".tl-reserve"),
      pill: all(g, ".tl-pill"),
      phases: Array.prototype.map.call(g.querySelectorAll(".tl-phase"), function (p) {
        return {box: box(p), phase: p.getAttribute("data-phase"), ok: p.getAttribute("data-ok") === "true"};
      })};
  });
  svg.querySelectorAll("g.tl-wave").forEach(function (g) {
    out.waves[g.getAttribute("data-wave")] = {plan: all(g, ".tl-wave-plan"), ran: all(g, ".tl-wave-actual")};
  });
  document.documentElement.setAttribute("data-layout", JSON.stringify(out));
})();
</script>"""


def _probe(page: Path, tmp_path: Path, viewport: tuple[int, int], script: str) -> dict[str, Any]:
    probe = tmp_path / f"probe-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), "utf-8")
    size = f"--window-size={viewport[0]},{viewport[1]}"
    proc = _chromium(tmp_path, size, "--dump-dom", probe.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'data-layout="([^"]*)"', proc.stdout)
    assert found, "the layout probe did not run"
    layout: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return layout


def _shoot(page: Path, tmp_path: Path, viewport: tuple[int, int], keep_as: str) -> Png:
    shot = tmp_path / keep_as
    size = f"--window-size={viewport[0]},{viewport[1]}"
    proc = _chromium(tmp_path, f"--screenshot={shot}", size, page.as_uri())
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / keep_as)
    return Png(shot)


def _inside(inner: Sequence[float], outer: Sequence[float], slack: float = 1.0) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[0] + inner[2] <= outer[0] + outer[2] + slack
        and inner[1] + inner[3] <= outer[1] + outer[3] + slack
    )


def _union(boxes: Sequence[Sequence[float]]) -> list[float]:
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return [left, top, right - left, bottom - top]


WAVES_VIEWPORT = (1280, 1400)
WINDOW_BLUE = _hex(timeline_svg.WINDOW_FILL)


@pytest.fixture(scope="module")
def waves_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WavePlan]:
    """`otorch waves --html` on the plant of tests/fixtures/timeline_plan.py (windows in three zones)."""
    root = tmp_path_factory.mktemp("waves")
    plan_file, page, out = root / "plan.json", root / "waves.html", root / "waves.json"
    plan_file.write_text(_load("timeline_plan").plant_plan().model_dump_json(), encoding="utf-8")
    now = _load("timeline_plan").NOW.isoformat()
    result = CliRunner().invoke(waves, [str(plan_file), "--now", now, "-o", str(out), "--html", str(page)])
    assert result.exit_code == 0, result.output
    return page, WavePlan.model_validate_json(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def waves_shot(
    waves_page: tuple[Path, WavePlan], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Png, dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("waves-shot")
    page = waves_page[0]
    png = _shoot(page, tmp_path, WAVES_VIEWPORT, "waves-timeline.png")
    return png, _probe(page, tmp_path, WAVES_VIEWPORT, TIMELINE_PROBE)


def test_waves_page_shows_every_asset_in_its_row(
    waves_shot: tuple[Png, dict[str, Any]], waves_page: tuple[Path, WavePlan]
) -> None:
    png, layout = waves_shot
    wp = waves_page[1]
    assert (png.width, png.height) == WAVES_VIEWPORT and layout["page"][0] <= WAVES_VIEWPORT[0]
    rows = layout["rows"]
    placed = [h.name for w in wp.waves for h in w.hosts]
    assert list(rows) == [*placed, "nw-scada-a", "nw-scada-b", "nw-sis-01", "nw-ews-01"]
    svg = layout["svg"]
    assert svg[1] + svg[3] < WAVES_VIEWPORT[1], "the timeline is below the screenshot"
    tops = [rows[name]["name"][1] for name in rows]
    assert tops == sorted(tops), "rows are not drawn top to bottom in order"
    for name, row in rows.items():
        text = png.region(row["name"], inset=0)
        assert sum(1 for p in text if sum(p) < 300) > 30, f"{name}: no text where its name should be"


def test_waves_page_held_exempt_blocked_rows_show_their_pill(waves_shot: tuple[Png, dict[str, Any]]) -> None:
    png, layout = waves_shot
    rows = layout["rows"]
    for name, outcome in (
        ("nw-scada-a", "held"),
        ("nw-scada-b", "held"),
        ("nw-sis-01", "exempt"),
        ("nw-ews-01", "blocked"),
    ):
        row = rows[name]
        assert row["outcome"] == outcome and len(row["pill"]) == 1 and not row["slot"] and not row["phases"]
        colour = _hex(timeline_svg.outcome_colour(outcome))
        assert _share(png.region(row["pill"][0], inset=3), colour) > 0.4, f"{name}: the pill is not {outcome}"
    colours = {timeline_svg.outcome_colour(o) for o in ("held", "exempt", "blocked")}
    assert len(colours) == 3


def test_waves_page_draws_each_slot_inside_its_window(waves_shot: tuple[Png, dict[str, Any]]) -> None:
    """Each placed host's dashed slot and hatched rollback reserve sit inside one of its window rectangles,
    and the screenshot shows them there: window blue around, the dashed outline and the hatching drawn."""
    png, layout = waves_shot
    placed = {n: r for n, r in layout["rows"].items() if r["slot"]}
    assert len(placed) == 4
    for name, row in placed.items():
        (slot,), (reserve,) = row["slot"], row["reserve"]
        work = _union([slot, reserve])
        assert any(_inside(work, window) for window in row["windows"]), f"{name}: slot outside its windows"
        holder = next(w for w in row["windows"] if _inside(work, w))
        below = [holder[0], work[1] + work[3] + 2, holder[2], holder[1] + holder[3] - work[1] - work[3] - 4]
        assert _share(png.region(below, inset=2), WINDOW_BLUE) > 0.5, f"{name}: the window is not drawn blue"
        outline = png.region([slot[0] - 1, slot[1] - 1, slot[2] + 2, 3], inset=0)  # the slot's top edge
        dashes = sum(1 for p in outline if sum(p) < 550) / len(outline)
        assert dashes > 0.2, f"{name}: no dashed outline on the slot ({dashes:.2f} dark)"
        hatch = png.region(reserve, inset=1)
        dark = sum(1 for p in hatch if sum(p) < 600) / len(hatch)
        light = sum(1 for p in hatch if sum(p) > 720) / len(hatch)
        assert dark > 0.15 and light > 0.15, (
            f"{name}: the reserve is not hatched ({dark:.2f} dark, {light:.2f} light)"
        )


# -- the other formats as a reader (or a CI server) takes them ----------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every format of the fixture run, written by the same entry point as `otorch report run`."""
    fx = _fixture_module()
    root = tmp_path_factory.mktemp("written")
    run = fx.make_run_store(root)
    out = write_run_reports(run.paths, run.run_id, root / "out", run.finished_at, secrets=(fx.SECRET,))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for path in out.values():
        shutil.copyfile(path, ARTIFACTS / path.name)
    return out


def test_junit_file_validates_against_the_junit_xsd(written: dict[str, Path]) -> None:
    """The written file (not a string in memory) against the vendored Jenkins xunit-plugin junit-10.xsd."""
    schema = xmlschema.XMLSchema(junit_schema_path())
    errors = list(schema.iter_errors(str(written["junit"])))
    assert errors == [], [str(e)[:300] for e in errors[:3]]
    root = ET.parse(written["junit"]).getroot()
    report = json.loads(written["json"].read_text(encoding="utf-8"))
    suites = root.findall("testsuite")
    assert [s.get("name", "").split(" ", 1)[1] for s in suites] == [w["name"] for w in report["waves"]]
    # a suite's time is its wave's, from the events (hosts run in parallel: not the sum of the phases)
    for suite, wave in zip(suites, report["waves"], strict=True):
        started = datetime.fromisoformat(wave["started_at"])
        finished = datetime.fromisoformat(wave["finished_at"])
        assert float(suite.get("time", "nan")) == pytest.approx(
            (finished - started).total_seconds(), abs=0.001
        )


_TEMPLATE_LEFTOVERS = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|\bNone\b|\bUndefined\b")


def _sentences(text: str) -> list[str]:
    """Sentences and clauses of inline text (split at . ; : ! ?), normalised; those of 2+ words outside
    code spans (a hash shown twice, e.g. the audit head in the log and in the store, is a value, not text)."""
    parts = (" ".join(p.split()) for p in re.split(r"(?<=[.;!?])\s+|:\s+|;\s*", text))
    return [p for p in parts if len(re.findall(r"[A-Za-z][\w-]{2,}", re.sub(r"`[^`]*`", "", p))) >= 2]


def test_markdown_renders_with_tables_no_template_text_no_repeated_clause(written: dict[str, Path]) -> None:
    source = written["md"].read_text(encoding="utf-8")
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(source)
    rendered = md.render(source)
    # every table of the source parses as one (as many as header separator lines), rows as wide as the head
    lines = source.splitlines()
    separators = [n for n, line in enumerate(lines) if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line)]
    assert separators and sum(1 for t in tokens if t.type == "table_open") == len(separators)
    for n in separators:
        width = len(re.findall(r"(?<!\\)\|", lines[n]))
        rows = [lines[n - 1], *itertools.takewhile(lambda line: line.startswith("|"), lines[n + 1 :])]
        assert all(len(re.findall(r"(?<!\\)\|", row)) == width for row in rows), f"ragged table at line {n}"
    assert rendered.count("<table>") == len(separators)
    for host in ("nw-hmi-02", "nw-gw-01", "nw-hist-01", "nw-hmi-01"):
        assert f"<td>{host}</td>" in rendered
    assert not _TEMPLATE_LEFTOVERS.search(rendered), _TEMPLATE_LEFTOVERS.search(rendered)
    # no paragraph, list item or table cell says the same thing twice ("diagnostics failed: diagnostics
    # failed"); the same label once per host (each host's own evidence list) is structure, not repetition
    blocks = [_sentences(t.content) for t in tokens if t.type == "inline"]
    repeated = [(s, b) for b in blocks for s, n in Counter(b).items() if n > 1]
    assert sum(map(len, blocks)) > 20 and repeated == [], repeated
