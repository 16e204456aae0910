"""The window timeline as SVG (reporting/timeline_svg.py) and `otorch waves --html`: well-formed, no script,
no external resource, one group per asset with its windows, slot and phases where the axis puts them."""

from __future__ import annotations

import importlib.util
import re
import sys
import xml.etree.ElementTree as ET
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

from click.testing import CliRunner

from otorchestrator.cli.waves import waves
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.results import HostOutcome, Phase
from otorchestrator.models.run import HostState
from otorchestrator.planning.waves import stage_waves
from otorchestrator.reporting.models import HostRow, OutsideRow, PhaseTiming
from otorchestrator.reporting.render import OUTCOME_COLOURS
from otorchestrator.reporting.timeline import plan_timeline, run_timeline
from otorchestrator.reporting.timeline_svg import (
    FAILED_PHASE,
    PLOT_X0,
    PLOT_X1,
    WINDOW_FILL,
    Palette,
    render_timeline_svg,
)

_path = Path(__file__).parents[1] / "fixtures" / "timeline_plan.py"
_spec = importlib.util.spec_from_file_location("timeline_plan", _path)
assert _spec and _spec.loader
tp = importlib.util.module_from_spec(_spec)
sys.modules["timeline_plan"] = tp
_spec.loader.exec_module(tp)

SVG = ""  # inline in HTML: the parser gives <svg> its namespace, the markup carries none
outcome_colour = Palette(OUTCOME_COLOURS)  # the run report's state colours over the placement colours


def _svg(figure: str) -> ET.Element:
    found = re.search(r"<svg.*</svg>", figure, re.S)
    assert found, "no <svg> in the figure"
    return ET.fromstring(found.group(0))


def _groups(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-asset", ""): g for g in root.iter(f"{SVG}g") if g.get("class") == "tl-row"}


def _of(group: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in group.iter() if e.get("class") == cls]


def _x(rect: ET.Element) -> tuple[float, float]:
    left = float(rect.get("x", "nan"))
    return left, left + float(rect.get("width", "nan"))


def test_the_plan_picture_has_a_row_per_asset_with_its_windows_and_slot() -> None:
    plan = tp.plant_plan()
    wp = stage_waves(plan, WavePolicy(), tp.NOW)
    figure = render_timeline_svg(plan_timeline(wp, plan), OUTCOME_COLOURS)
    for external in ("<script", "href", "http://", "https://", "url(", "<image", "@import"):
        assert external not in figure, external
    groups = _groups(_svg(figure))
    assert list(groups) == [
        *(h.name for w in wp.waves for h in w.hosts),
        "nw-scada-a",
        "nw-scada-b",
        "nw-sis-01",
        "nw-ews-01",
    ]
    for name in ("nw-hmi-02", "nw-hmi-01", "nw-gw-01", "nw-hist-01"):
        (slot,) = _of(groups[name], "tl-slot")
        (reserve,) = _of(groups[name], "tl-reserve")
        windows = [_x(w) for w in _of(groups[name], "tl-window")]
        assert all(w.get("fill") == WINDOW_FILL for w in _of(groups[name], "tl-window"))
        left, right = _x(slot)[0], _x(reserve)[1]
        assert any(a <= left and right <= b + 0.2 for a, b in windows), (name, left, right, windows)
        assert PLOT_X0 <= left < right <= PLOT_X1
    hmi = groups["nw-hmi-02"]
    assert "Sat 22:00 - Sun 04:00 Europe/Berlin" in "".join(t.text or "" for t in hmi.iter(f"{SVG}text"))
    for name, outcome in (("nw-scada-a", "held"), ("nw-sis-01", "exempt"), ("nw-ews-01", "blocked")):
        group = groups[name]
        assert group.get("data-outcome") == outcome
        (pill,) = _of(group, "tl-pill")
        assert pill.get("fill") == outcome_colour(outcome)
        assert not _of(group, "tl-slot") and not _of(group, "tl-phase")
    assert "next window Sun 22:00 - Mon 04:00 Europe/Berlin" in "".join(
        t.text or "" for t in _of(groups["nw-scada-b"], "tl-next")
    )
    assert len({outcome_colour(o) for o in ("held", "exempt", "blocked", "failed", "succeeded")}) == 5


def test_run_phases_are_drawn_in_the_outcome_colour_the_failed_one_red() -> None:
    plan = tp.plant_plan()
    wp = stage_waves(plan, WavePolicy(), tp.NOW)
    wave = wp.host_waves()["nw-gw-01"]
    start = wp.waves[wave].slot_start + timedelta(minutes=1)

    def timing(phase: Phase, offset: int, seconds: int, ok: bool = True) -> PhaseTiming:
        at = start + timedelta(seconds=offset)
        outcome = HostOutcome.OK if ok else HostOutcome.FAILED
        return PhaseTiming(
            phase=phase,
            started_at=at,
            finished_at=at + timedelta(seconds=seconds),
            duration_s=seconds,
            ok=ok,
            outcome=outcome,
        )

    phases = (
        timing(Phase.INSTALL, 0, 600),
        timing(Phase.VERIFY, 600, 300, False),
        timing(Phase.ROLLBACK, 900, 600),
    )
    hosts = [HostRow(host="nw-gw-01", wave=wave, state=HostState.ROLLED_BACK, phases=phases)]
    outside = [
        OutsideRow(host="nw-ews-01", placement="blocked", patches=("P",), reason="<b>not</b> tested & held")
    ]
    timeline = run_timeline(wp, plan, hosts, outside)
    assert timeline is not None
    figure = render_timeline_svg(timeline, OUTCOME_COLOURS)
    groups = _groups(_svg(figure))
    bars = _of(groups["nw-gw-01"], "tl-phase")
    assert [(b.get("data-phase"), b.get("data-ok")) for b in bars] == [
        ("install", "true"),
        ("verify", "false"),
        ("rollback", "true"),
    ]
    assert [b.get("fill") for b in bars] == [
        outcome_colour("rolled_back"),
        FAILED_PHASE,
        outcome_colour("rolled_back"),
    ]
    # consecutive phases are drawn left to right, inside the gateway's window
    spans = [_x(b) for b in bars]
    assert all(a[1] <= b[0] + 0.2 for a, b in pairwise(spans))
    windows = [_x(w) for w in _of(groups["nw-gw-01"], "tl-window")]
    assert any(a <= spans[0][0] and spans[-1][1] <= b for a, b in windows)
    # the report's text is escaped, not markup
    assert "&lt;b&gt;not&lt;/b&gt; tested &amp; held" in figure and "<b>not</b>" not in figure
    actual = [e for e in _svg(figure).iter() if e.get("class") == "tl-wave-actual"]
    assert len(actual) == 1


def test_waves_html_writes_the_page(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(tp.plant_plan().model_dump_json(), encoding="utf-8")
    page = tmp_path / "waves.html"
    args = [str(plan_file), "--now", tp.NOW.isoformat(), "--html", str(page), "-o", str(tmp_path / "w.json")]
    result = CliRunner().invoke(waves, args)
    assert result.exit_code == 0, result.output
    assert f"wave timeline written to {page}" in result.output
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert 'id="window-timeline"' in html and 'id="held-count">2<' in html
    groups = _groups(_svg(html))
    assert {"nw-scada-a", "nw-sis-01", "nw-ews-01", "nw-gw-01"} <= set(groups)
    for host in ("nw-scada-a", "nw-scada-b", "nw-sis-01", "nw-ews-01"):
        assert f'data-host="{host}"' in html  # in the held / left-out table too
