"""`stage`: a reviewed plan into waves (docs/waves.md), sealed: the staging gate (signed plan and approvals
under a trust file, docs/trust.md), the waves, the holds reworded for signed approvals, the wave plan and its
timeline page written. `otorch waves` renders what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from otorchestrator.app.errors import AppError
from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.planfiles import PlanFileError, load_plan
from otorchestrator.models.plan import Plan
from otorchestrator.models.waves import WavePlan
from otorchestrator.planning.policy import PolicyError, load_policy
from otorchestrator.planning.waves import stage_waves
from otorchestrator.reporting.waves_html import render_waves_html
from otorchestrator.trust.gate import Gate, staging_gate
from otorchestrator.trust.stage_approvals import reword_holds


@dataclass(frozen=True)
class Staged:
    wave_plan: WavePlan
    plan: Plan
    gate: Gate


def stage(
    plan_file: Path,
    now: datetime,
    *,
    policy_file: Path | None = None,
    inventory: str | None = None,
    trust_file: Path | None = None,
    approvals_dir: Path | None = None,
    output: Path | None = None,
    html_file: Path | None = None,
) -> Staged:
    """Stage `plan_file` from `now`; INPUT_INVALID when the plan or policy is unusable or the gate refuses."""
    try:
        plan = load_plan(plan_file)
        policy = load_policy(policy_file)
    except (PlanFileError, PolicyError) as exc:
        raise AppError(str(exc), ExitCode.INPUT_INVALID) from exc
    gate = staging_gate(plan, plan_file, policy, policy_file, inventory, now, trust_file, approvals_dir)
    if gate.problems:  # docs/trust.md
        problems = "\n  ".join(gate.problems)
        raise AppError(f"{plan_file}: refusing to stage it:\n  {problems}", ExitCode.INPUT_INVALID)
    # recorded as its resolved absolute path: the wave plan (and its hash) must not depend on how -i was typed
    where = str(Path(inventory).resolve()) if inventory else None
    wave_plan = stage_waves(plan, gate.policy, now, inventory=where)
    if gate.trust is not None and gate.signed is not None:
        wave_plan = reword_holds(wave_plan, gate.signed, gate.trust, plan_file)
    if output is not None:
        output.write_text(wave_plan.model_dump_json(indent=2) + "\n", encoding="utf-8")
    if html_file is not None:
        html_file.write_text(render_waves_html(wave_plan, plan, now), encoding="utf-8")
    return Staged(wave_plan, plan, gate)
