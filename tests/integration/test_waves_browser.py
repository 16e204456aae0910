"""`otorch waves --html` as a browser shows it: headless Chromium renders the page of a staged plan whose
assets have windows in three zones (tests/fixtures/timeline_plan.py), takes a screenshot (kept under
out/screenshots) and, from a probe copy of the page, where it drew each row; the screenshot must show in those
boxes what the wave plan says: the held / exempt / blocked assets with their pill in its colour, every placed
host's dashed slot and hatched rollback reserve inside one of its window rectangles, drawn blue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _browser import (
    CHROMIUM,
    NO_CHROMIUM,
    TIMELINE_PROBE,
    Png,
    hex_rgb,
    inside,
    load_fixture,
    probe_layout,
    screenshot_of,
    share,
    union,
)
from click.testing import CliRunner

from otorchestrator.cli.waves import waves
from otorchestrator.models.waves import WavePlan
from otorchestrator.reporting import timeline_svg
from otorchestrator.reporting.render import OUTCOME_COLOURS

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)

WAVES_VIEWPORT = (1280, 1400)
OUTCOME_OF = timeline_svg.Palette(OUTCOME_COLOURS)
WINDOW_BLUE = hex_rgb(timeline_svg.WINDOW_FILL)


@pytest.fixture(scope="module")
def waves_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WavePlan]:
    """`otorch waves --html` on the plant of tests/fixtures/timeline_plan.py (windows in three zones)."""
    root = tmp_path_factory.mktemp("waves")
    plan_file, page, out = root / "plan.json", root / "waves.html", root / "waves.json"
    plan_file.write_text(load_fixture("timeline_plan").plant_plan().model_dump_json(), encoding="utf-8")
    now = load_fixture("timeline_plan").NOW.isoformat()
    result = CliRunner().invoke(waves, [str(plan_file), "--now", now, "-o", str(out), "--html", str(page)])
    assert result.exit_code == 0, result.output
    return page, WavePlan.model_validate_json(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def waves_shot(
    waves_page: tuple[Path, WavePlan], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Png, dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("waves-shot")
    page = waves_page[0]
    png = screenshot_of(page, tmp_path, WAVES_VIEWPORT, "waves-timeline.png")
    return png, probe_layout(page, tmp_path, WAVES_VIEWPORT, TIMELINE_PROBE)


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
        colour = hex_rgb(OUTCOME_OF(outcome))
        assert share(png.region(row["pill"][0], inset=3), colour) > 0.4, f"{name}: the pill is not {outcome}"
    colours = {OUTCOME_OF(o) for o in ("held", "exempt", "blocked")}
    assert len(colours) == 3


def test_waves_page_draws_each_slot_inside_its_window(waves_shot: tuple[Png, dict[str, Any]]) -> None:
    """Each placed host's dashed slot and hatched rollback reserve sit inside one of its window rectangles,
    and the screenshot shows them there: window blue around, the dashed outline and the hatching drawn."""
    png, layout = waves_shot
    placed = {n: r for n, r in layout["rows"].items() if r["slot"]}
    assert len(placed) == 4
    for name, row in placed.items():
        (slot,), (reserve,) = row["slot"], row["reserve"]
        work = union([slot, reserve])
        assert any(inside(work, window) for window in row["windows"]), f"{name}: slot outside its windows"
        holder = next(w for w in row["windows"] if inside(work, w))
        below = [holder[0], work[1] + work[3] + 2, holder[2], holder[1] + holder[3] - work[1] - work[3] - 4]
        assert share(png.region(below, inset=2), WINDOW_BLUE) > 0.5, f"{name}: the window is not drawn blue"
        outline = png.region([slot[0] - 1, slot[1] - 1, slot[2] + 2, 3], inset=0)  # the slot's top edge
        dashes = sum(1 for p in outline if sum(p) < 550) / len(outline)
        assert dashes > 0.2, f"{name}: no dashed outline on the slot ({dashes:.2f} dark)"
        hatch = png.region(reserve, inset=1)
        dark = sum(1 for p in hatch if sum(p) < 600) / len(hatch)
        light = sum(1 for p in hatch if sum(p) > 720) / len(hatch)
        assert dark > 0.15 and light > 0.15, (
            f"{name}: the reserve is not hatched ({dark:.2f} dark, {light:.2f} light)"
        )
