"""`plan`: inventory, advisories, KEV, catalog, exemptions and approvals read, the SSVC plan built, sealed
and written. `otorch plan` and the demo call it; `otorch plan` renders what it returns."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from otorchestrator.app.errors import AppError
from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.plan_inputs import AdvisoryImport, gather
from otorchestrator.models.plan import Plan
from otorchestrator.models.policy import WavePolicy
from otorchestrator.planning.plan import build_plan
from otorchestrator.planning.policy import PolicyError, load_policy


@dataclass(frozen=True)
class Planned:
    """The sealed plan, what the advisory and KEV import skipped (listed, not fatal), where it was written."""

    plan: Plan
    imported: AdvisoryImport
    output: Path


def render_plan(plan: Plan, suffix: str) -> str:
    """The plan file's text: JSON (indented, stable) or YAML for a .yml/.yaml suffix."""
    data = plan.model_dump(mode="json")
    if suffix in (".yml", ".yaml"):
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def plan(
    inventory_path: Path,
    advisories: tuple[Path, ...],
    catalog: Path,
    now: datetime,
    output: Path,
    *,
    kev: Path | None = None,
    exemptions: Path | None = None,
    approvals: Path | None = None,
    allow_empty: bool = False,
) -> Planned:
    """Build the plan as of `now` and write it to `output` (JSON, or YAML by suffix). INPUT_INVALID, nothing
    written, when the inventory, catalog, KEV, exemptions or approvals are unusable (or no advisory could be
    read and not `allow_empty`): the message's first line says which, each further line is one problem
    (file:line: path: expected, found)."""
    from otorchestrator.intake.errors import IntakeError
    from otorchestrator.intake.inventory import load_inventory
    from otorchestrator.intake.problems import InventoryError

    try:
        inventory = load_inventory(inventory_path)
        inputs, imported = gather(
            inventory, inventory_path, advisories, catalog, kev, exemptions, approvals, allow_empty
        )
    except InventoryError as exc:
        raise _unusable(f"inventory {inventory_path} is unusable:", exc.problems) from exc
    except IntakeError as exc:
        raise _unusable("input unusable, no plan written:", exc.problems) from exc
    result = build_plan(inputs, now).sealed()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_plan(result, output.suffix.lower()), encoding="utf-8")
    return Planned(result, imported, output)


def _unusable(heading: str, problems: Iterable[object]) -> AppError:
    lines = [heading, *(f"  {p}" for p in problems)]
    return AppError("\n".join(lines), ExitCode.INPUT_INVALID)


def wave_policy(policy_file: Path | None) -> WavePolicy:
    """The wave policy of `policy_file` (the built-in defaults without one); INPUT_INVALID when unusable."""
    try:
        return load_policy(policy_file)
    except PolicyError as exc:
        raise AppError(str(exc), ExitCode.INPUT_INVALID) from exc
