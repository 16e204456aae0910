"""`otorch waves --html`: the staged wave plan as one self-contained HTML page, its window timeline first."""

from __future__ import annotations

from datetime import datetime

from otorchestrator.models.plan import Plan
from otorchestrator.models.waves import WavePlan
from otorchestrator.reporting.render import OUTCOME_COLOURS, environment
from otorchestrator.reporting.timeline import plan_timeline
from otorchestrator.reporting.timeline_svg import render_timeline_svg


def render_waves_html(wp: WavePlan, plan: Plan | None, now: datetime) -> str:
    """The page for `wp`; `plan` (the plan it was staged from) gives the held and left-out assets' windows."""
    svg = render_timeline_svg(plan_timeline(wp, plan), OUTCOME_COLOURS)
    placed = sum(len(w.hosts) for w in wp.waves)
    template = environment().get_template("waves.html.j2")
    return template.render(wp=wp, placed=placed, timeline_svg=svg, generated_at=now)
