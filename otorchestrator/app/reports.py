"""`run_report` and `compliance_report`: a run's report and the compliance report, built from the state
store (and the plan, KEV and policy files) and written in the formats asked for. `otorch report run`,
`otorch report compliance`, `otorch report cve` and the demo call these; the CLI renders what they return."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from otorchestrator.app import clock
from otorchestrator.app.errors import AppError
from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.inventory import load_inventory
from otorchestrator.intake.kev import load_kev
from otorchestrator.models.asset import Asset
from otorchestrator.models.policy import ComplianceDeadlines
from otorchestrator.planning.policy import PolicyError, load_policy
from otorchestrator.reporting.build import build_compliance_report, build_run_report
from otorchestrator.reporting.models import ComplianceReport, RunReport
from otorchestrator.reporting.redact import ReportRedactor
from otorchestrator.reporting.sources import (
    ComplianceSources,
    load_compliance_sources,
    load_plan,
    load_run_sources,
)
from otorchestrator.reporting.write import RUN_FORMATS, write_rendered_compliance, write_rendered_run
from otorchestrator.store.errors import StoreError
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore


@dataclass(frozen=True)
class RunReported:
    report: RunReport
    written: dict[str, Path]  # format -> file


def run_report(
    state_dir: Path | None,
    run_id: str | None = None,
    *,
    targets: Mapping[str, Path] | None = None,
    out_dir: Path | None = None,
    plan_path: Path | None = None,
    secrets: Sequence[str] = (),
) -> RunReported:
    """The report of `run_id` (default: the latest run) written to `targets` (format -> file); every
    format not named goes to `out_dir` as run-<RUN>.<ext> when it is given or nothing is named
    (default directory: <state>/reports). NO_STATE without a state store; ERROR for an unknown run."""
    paths = StatePaths.resolve(state_dir, os.environ)
    if not paths.db.exists():  # as `otorch status` and `otorch audit verify`
        raise AppError(paths.missing_store() or f"no state store at {paths.db}", ExitCode.NO_STATE)
    try:
        if run_id is None:
            with StateStore(paths.db) as store:
                latest = store.latest_run()
            if latest is None:
                raise AppError(f"no run in {paths.db}")
            run_id = latest.run_id
        sources = load_run_sources(paths, run_id, plan_path=plan_path)
        report = build_run_report(sources, clock.now(), ReportRedactor(secrets))
    except StoreError as exc:  # RunNotFound too
        raise AppError(str(exc)) from exc
    chosen = dict(targets or {})
    if not chosen or out_dir is not None:
        directory = out_dir or paths.reports
        for fmt, (ext, _) in RUN_FORMATS.items():
            chosen.setdefault(fmt, directory / f"run-{run_id}.{ext}")
    return RunReported(report, write_rendered_run(report, chosen))


def _assets(inventory: Path | None, plan_assets: Sequence[Asset] | None) -> list[Asset]:
    if inventory is not None:
        try:
            return list(load_inventory(inventory).assets)
        except ValueError as exc:  # IntakeError, InventoryError
            raise AppError(str(exc)) from exc
    if plan_assets is not None:
        return list(plan_assets)
    raise AppError("give --inventory or --plan (the assets to report on)", usage=True)


def _kev_due(kev: Path | None) -> dict[str, date]:
    if kev is None:
        return {}
    try:
        catalog, _ = load_kev(kev)
    except ValueError as exc:  # IntakeError
        raise AppError(str(exc)) from exc
    return {e.cve: e.due_date for e in catalog.entries if e.due_date is not None}


def compliance_inputs(
    state_dir: Path | None, *, inventory: Path | None, plan_path: Path | None, kev: Path | None
) -> tuple[list[Asset], ComplianceSources]:
    """The assets (the inventory's, else the plan's) and what the store, the plan and KEV say of them."""
    try:
        plan = load_plan(plan_path) if plan_path else None
    except (OSError, ValueError) as exc:
        raise AppError(f"{plan_path}: not a saved plan ({exc})") from exc
    assets = _assets(inventory, plan.assets if plan else None)
    paths = StatePaths.resolve(state_dir, os.environ)
    try:
        sources = load_compliance_sources(paths, plan, [a.name for a in assets], _kev_due(kev))
    except StoreError as exc:
        raise AppError(str(exc)) from exc
    return assets, sources


def deadlines(policy: Path | None, evaluation_days: int | None, kev_days: int | None) -> ComplianceDeadlines:
    """The policy's compliance clocks, with `evaluation_days` / `kev_days` overriding them when given."""
    try:
        found = load_policy(policy).compliance
    except PolicyError as exc:
        raise AppError(str(exc)) from exc
    update = {"apply_days": evaluation_days, "kev_days": kev_days}
    return found.model_copy(update={k: v for k, v in update.items() if v is not None})


@dataclass(frozen=True)
class ComplianceReported:
    report: ComplianceReport
    written: dict[str, Path]  # format -> file


def compliance_report(
    state_dir: Path | None,
    *,
    inventory: Path | None = None,
    plan_path: Path | None = None,
    policy: Path | None = None,
    kev: Path | None = None,
    evaluation_days: int | None = None,
    kev_days: int | None = None,
    as_of: datetime | None = None,
    targets: Mapping[str, Path] | None = None,
) -> ComplianceReported:
    """Compliance per asset as of `as_of` (default: now), written to `targets` (format -> file; default
    <state>/reports/compliance.html and .json)."""
    clocks = deadlines(policy, evaluation_days, kev_days)
    assets, sources = compliance_inputs(state_dir, inventory=inventory, plan_path=plan_path, kev=kev)
    moment = clock.now() if as_of is None else as_of
    report = build_compliance_report(assets, sources, moment, deadlines=clocks)
    paths = StatePaths.resolve(state_dir, os.environ)
    chosen = dict(targets or {})
    if not chosen:
        chosen = {"html": paths.reports / "compliance.html", "json": paths.reports / "compliance.json"}
    return ComplianceReported(report, write_rendered_compliance(report, chosen))
