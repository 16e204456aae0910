"""Render report models with Jinja2: self-contained HTML (inline CSS, no external assets), Markdown,
JSON and JUnit XML. Templates are package data in `reporting/templates/`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from otorchestrator.models.results import Phase
from otorchestrator.reporting.compliance_models import ComplianceReport
from otorchestrator.reporting.models import HostRow, RunReport
from otorchestrator.reporting.timeline_svg import render_timeline_svg

PHASE_ORDER: tuple[Phase, ...] = (
    Phase.SCAN,
    Phase.DIAGNOSTICS,
    Phase.BACKUP,
    Phase.INSTALL,
    Phase.VERIFY,
    Phase.ROLLBACK,
)
PHASE_COLOURS: dict[str, str] = {
    "scan": "#8e9aaf",
    "diagnostics": "#5b8def",
    "backup": "#7c5cff",
    "install": "#f0a202",
    "verify": "#2bb673",
    "rollback": "#0e9aa7",  # not the failure red: a rollback that worked is no failed phase
}
JUNIT_XSD = "junit-10.xsd"
# one colour per host outcome (badges, wave timeline segments): green done, amber rolled back (safe, not
# patched), plum blocked (refused by diagnostics, nothing changed: not a failure), red failed, grey not run
OUTCOME_COLOURS: dict[str, str] = {
    "succeeded": "#2bb673",
    "rolled_back": "#f0a202",
    "blocked": "#a3458f",
    "skipped": "#9aa5b4",
    "pending": "#9aa5b4",
    "failed": "#e5484d",
    "rollback_failed": "#e5484d",
    "unreachable": "#e5484d",
    "timed_out": "#e5484d",
    "needs_reconcile": "#e5484d",
}
_RUNNING_COLOUR = "#5b8def"  # a host still in a step (diagnosing, installing, ...)
_OUTCOME_ORDER = tuple(OUTCOME_COLOURS)


def outcome_colour(state: str) -> str:
    """The colour of a host outcome (a state still under way: blue)."""
    return OUTCOME_COLOURS.get(state, _RUNNING_COLOUR)


def junit_schema_path() -> Path:
    """The JUnit schema shipped with the package (Jenkins xunit-plugin junit-10.xsd)."""
    return Path(str(resources.files("otorchestrator.reporting") / "schemas" / JUNIT_XSD))


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def _secs(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 120:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"


def _md(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _junit_time(value: float | None) -> str:
    return f"{(value or 0.0):.3f}"


@dataclass(frozen=True)
class Segment:
    """A share of a wave's bar: the hosts of one outcome."""

    left: float  # percent of the bar
    width: float  # percent of the bar
    colour: str
    title: str
    state: str


@dataclass(frozen=True)
class Bar:
    label: str
    left: float  # percent
    width: float  # percent
    colour: str
    title: str
    segments: tuple[Segment, ...] = ()


def _segments(states: dict[str, int]) -> tuple[Segment, ...]:
    """One segment per host outcome, sized by its number of hosts: a wave where 2 of 3 hosts succeeded
    is two thirds green."""
    total = sum(states.values())
    if not total:
        return ()
    order = {s: i for i, s in enumerate(_OUTCOME_ORDER)}
    out, left = [], 0.0
    for state, n in sorted(states.items(), key=lambda sn: (order.get(sn[0], len(order)), sn[0])):
        width = n / total * 100
        out.append(
            Segment(
                left=round(left, 2),
                width=round(width, 2),
                colour=outcome_colour(state),
                title=f"{n} of {total} host(s) {state.replace('_', ' ')}",
                state=state,
            )
        )
        left += width
    return tuple(out)


def wave_bars(report: RunReport) -> list[Bar]:
    """The wave timeline: one bar per wave on the run's time axis."""
    starts = [w.started_at for w in report.waves if w.started_at]
    ends = [w.finished_at for w in report.waves if w.finished_at]
    if not starts or not ends:
        return []
    origin, end = min(starts), max(ends)
    span = max((end - origin).total_seconds(), 1.0)
    bars = []
    for wave in report.waves:
        if wave.started_at is None or wave.finished_at is None:
            continue
        left = (wave.started_at - origin).total_seconds() / span * 100
        width = max((wave.finished_at - wave.started_at).total_seconds() / span * 100, 0.8)
        segments = _segments(wave.states)
        bars.append(
            Bar(
                label=wave.name,
                left=round(left, 2),
                width=round(min(width, 100 - left), 2),
                colour=segments[0].colour if len(segments) == 1 else "#eef1f6",
                title=f"{wave.name}: {_ts(wave.started_at)} → {_ts(wave.finished_at)} "
                f"({_secs(wave.duration_s)})",
                segments=segments,
            )
        )
    return bars


def phase_bars(host: HostRow, longest: float) -> list[Bar]:
    """A host's phases as a stacked bar scaled to the longest host."""
    scale = max(longest, 1.0)
    bars, left = [], 0.0
    for timing in host.phases:
        width = timing.duration_s / scale * 100
        bars.append(
            Bar(
                label=timing.phase.value,
                left=round(left, 2),
                width=round(max(width, 0.5), 2),
                colour=PHASE_COLOURS.get(timing.phase.value, "#999") if timing.ok else "#e5484d",
                title=f"{timing.phase.value}: {_secs(timing.duration_s)} ({'ok' if timing.ok else 'failed'})",
            )
        )
        left += width
    return bars


@dataclass(frozen=True)
class JUnitCase:
    classname: str
    name: str
    time: float
    kind: str  # passed | failure | error | skipped
    message: str = ""
    text: str = ""
    out: str = ""  # system-out: the evidence of this phase (checks with their values)


@dataclass(frozen=True)
class JUnitSuite:
    name: str
    timestamp: str
    time: float
    cases: tuple[JUnitCase, ...]

    def count(self, kind: str) -> int:
        return sum(1 for c in self.cases if c.kind == kind)


EVIDENCE_TITLES: dict[str, str] = {
    "approvals": "Approvals",
    "diagnostics": "Diagnostics",
    "backup": "Backup",
    "artifact": "Artifact re-check",
    "verification": "Verification",
    "rollback": "Rollback proof",
}
_ERROR_OUTCOMES = frozenset({"unreachable", "timed_out", "canceled", "no_result"})


_PHASE_EVIDENCE = {
    "diagnostics": "diagnostics",
    "backup": "backup",
    "verify": "verification",
    "rollback": "rollback",
}


def evidence_text(host: HostRow, kinds: Sequence[str]) -> str:
    """Evidence sections as plain text lines (for JUnit system-out)."""
    lines = []
    for kind in kinds:
        section = host.section(kind)
        if section is None:
            continue
        lines.append(f"{kind}: {section.status.value}: {section.summary}")
        lines += [
            f"  {'ok' if line.ok else ('FAILED' if line.ok is False else '-')} {line.text}"
            for line in section.details()
        ]
    return "\n".join(lines)


def _host_text(host: HostRow) -> str:
    """What a host's first case carries besides its phase: CVEs with their decision, versions, approvals
    and the artifact re-check."""
    lines = [f"CVE {c.cve} ({c.patch_id}, decision {c.decision}): {c.status}" for c in host.cves]
    lines += [f"versions: {c.text}" for c in host.changes]
    extra = evidence_text(host, ("approvals", "artifact"))
    return "\n".join([*lines, extra] if extra else lines)


def junit_suites(report: RunReport) -> list[JUnitSuite]:
    failures = {(f.host, f.phase): f for f in (*report.failures, *report.refusals)}
    suites = []
    for wave in report.waves:
        cases: list[JUnitCase] = []
        for host in (h for h in report.hosts if h.wave == wave.index):
            classname = f"otorch.{report.run_id}.{wave.name}.{host.host}"
            head = _host_text(host)
            if not host.phases:
                kind = "skipped" if host.state.value in ("skipped", "pending") else "error"
                cases.append(
                    JUnitCase(
                        classname, "run", 0.0, kind, f"{host.state.value}: {host.detail}", host.detail, head
                    )
                )
                continue
            for index, timing in enumerate(host.phases):
                kind, message, text = "passed", "", ""
                entry = failures.get((host.host, timing.phase))
                section = host.section(_PHASE_EVIDENCE.get(timing.phase.value, ""))
                if not timing.ok:
                    # the failing checks with their values (the evidence sentence), else their names
                    checks = ", ".join(timing.failed_checks) or timing.outcome.value
                    if section is not None and section.status.value == "failed":
                        checks = section.summary.removeprefix("refused the host before any change: ")
                    text = entry.excerpt if entry else ""
                    if host.state.value == "blocked" and timing.phase is Phase.DIAGNOSTICS:
                        # refused before any change: not a failure of the patch (the host stays as it was)
                        kind, message = "skipped", f"blocked by diagnostics, nothing installed: {checks}"
                    else:
                        kind = "error" if timing.outcome.value in _ERROR_OUTCOMES else "failure"
                        message = f"{timing.phase.value} failed: {checks}"
                out = evidence_text(host, (section.kind,) if section else ())
                if index == 0 and head:
                    out = f"{head}\n{out}" if out else head
                cases.append(
                    JUnitCase(classname, timing.phase.value, timing.duration_s, kind, message, text, out)
                )
        suites.append(
            JUnitSuite(
                name=f"{report.run_id} {wave.name}",
                timestamp=wave.started_at.strftime("%Y-%m-%dT%H:%M:%S") if wave.started_at else "",
                # the wave's own time (hosts run in parallel: the sum of their phases is no duration)
                time=round(wave.duration_s if wave.duration_s is not None else sum(c.time for c in cases), 3),
                cases=tuple(cases),
            )
        )
    return suites


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("otorchestrator.reporting", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html", "xml", "html.j2", "xml.j2"), default_for_string=False
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(ts=_ts, secs=_secs, md=_md, junit_time=_junit_time)
    env.globals.update(
        wave_bars=wave_bars,
        phase_bars=phase_bars,
        PHASE_ORDER=PHASE_ORDER,
        PHASE_COLOURS=PHASE_COLOURS,
        OUTCOME_COLOURS=OUTCOME_COLOURS,
        EVIDENCE_TITLES=EVIDENCE_TITLES,
        timeline_svg=lambda timeline: render_timeline_svg(timeline, OUTCOME_COLOURS),
    )
    return env


def render_run_html(report: RunReport) -> str:
    longest = max((h.total_s for h in report.hosts), default=0.0)
    return environment().get_template("run.html.j2").render(r=report, longest=longest)


def render_run_markdown(report: RunReport) -> str:
    return environment().get_template("run.md.j2").render(r=report)


def render_json(report: RunReport | ComplianceReport) -> str:
    return report.model_dump_json(indent=2) + "\n"


def render_run_junit(report: RunReport) -> str:
    """One testsuite per wave, one testcase per host and phase (a host with no phase: one `run` case)."""
    suites = junit_suites(report)
    totals = {
        "tests": sum(len(s.cases) for s in suites),
        "failures": sum(s.count("failure") for s in suites),
        "errors": sum(s.count("error") for s in suites),
        "time": report.duration_s if report.duration_s is not None else sum(s.time for s in suites),
    }
    return environment().get_template("junit.xml.j2").render(r=report, suites=suites, totals=totals)


def render_compliance_html(report: ComplianceReport) -> str:
    return environment().get_template("compliance.html.j2").render(r=report)


def render_compliance_markdown(report: ComplianceReport) -> str:
    return environment().get_template("compliance.md.j2").render(r=report)
