"""Write rendered reports to files: the one entry point the CLI and the demo call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from otorchestrator.reporting.build import build_run_report
from otorchestrator.reporting.compliance_models import ComplianceReport
from otorchestrator.reporting.models import RunReport
from otorchestrator.reporting.redact import ReportRedactor
from otorchestrator.reporting.render import (
    render_compliance_html,
    render_compliance_markdown,
    render_json,
    render_run_html,
    render_run_junit,
    render_run_markdown,
)
from otorchestrator.reporting.sources import load_run_sources
from otorchestrator.store.paths import StatePaths

RUN_FORMATS: dict[str, tuple[str, Callable[[RunReport], str]]] = {
    "html": ("html", render_run_html),
    "md": ("md", render_run_markdown),
    "json": ("json", render_json),
    "junit": ("junit.xml", render_run_junit),
}
COMPLIANCE_FORMATS: dict[str, tuple[str, Callable[[ComplianceReport], str]]] = {
    "html": ("html", render_compliance_html),
    "md": ("md", render_compliance_markdown),
    "json": ("json", render_json),
}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_rendered_run(report: RunReport, targets: Mapping[str, Path]) -> dict[str, Path]:
    """`targets`: format (html, md, json, junit) -> file."""
    return {fmt: _write(path, RUN_FORMATS[fmt][1](report)) for fmt, path in targets.items()}


def write_rendered_compliance(report: ComplianceReport, targets: Mapping[str, Path]) -> dict[str, Path]:
    """`targets`: format (html, md, json) -> file."""
    return {fmt: _write(path, COMPLIANCE_FORMATS[fmt][1](report)) for fmt, path in targets.items()}


def write_run_reports(
    paths: StatePaths,
    run_id: str,
    out_dir: Path,
    now: datetime,
    *,
    secrets: tuple[str, ...] = (),
    formats: tuple[str, ...] = ("html", "md", "json", "junit"),
) -> dict[str, Path]:
    """Build the run report of `run_id` from the store and write every format into `out_dir` as
    `run-<run_id>.<ext>`. Returns format -> path. Raises `RunNotFound`."""
    report = build_run_report(load_run_sources(paths, run_id), now, ReportRedactor(secrets))
    targets = {fmt: out_dir / f"run-{run_id}.{RUN_FORMATS[fmt][0]}" for fmt in formats}
    return write_rendered_run(report, targets)
