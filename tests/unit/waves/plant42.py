"""The plant42 fixture (tests/fixtures/plant42): inventory, catalog, KEV, exemptions, approvals -> plan."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from otorchestrator.intake.approvals import load_approvals
from otorchestrator.intake.catalog import load_catalog
from otorchestrator.intake.csaf import load_advisories
from otorchestrator.intake.exemptions import load_exemptions
from otorchestrator.intake.inventory import read_inventory
from otorchestrator.intake.kev import load_kev
from otorchestrator.models.asset import Inventory
from otorchestrator.models.plan import Plan
from otorchestrator.planning.plan import PlanInputs, build_plan

PLANT = Path(__file__).parents[2] / "fixtures" / "plant42"
NOW = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)  # Saturday 19:00 in plant-north, 12:00 in pumpstation-east


@lru_cache(maxsize=1)
def plant_inventory() -> Inventory:
    report = read_inventory([PLANT / "hosts.yml"])
    assert not report.problems, report.problems
    return report.inventory


@lru_cache(maxsize=1)
def plant_plan() -> Plan:
    advisories, problems = load_advisories([PLANT / "advisories"])
    catalog, _ = load_catalog(PLANT / "catalog.yml")
    kev, _ = load_kev(PLANT / "kev.json")
    exemptions, _ = load_exemptions(PLANT / "exemptions.yml")
    approvals, bad = load_approvals(PLANT / "approvals.yml")
    assert not problems and not bad
    inputs = PlanInputs(
        inventory=plant_inventory(),
        advisories=advisories,
        catalog=catalog,
        kev=kev,
        exemptions=exemptions,
        approvals=approvals,
    )
    return build_plan(inputs, NOW).sealed()
