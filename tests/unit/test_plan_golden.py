"""Golden outputs of the planner and the wave stager on fixed generated inputs (the benches' own generators):
the plan's JSON, its content hash and the wave plan's JSON hash. A speed change must leave them as they are;
a change that means to alter output updates the digests here in the same commit, saying why."""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from otorchestrator.intake.csaf import load_advisories
from otorchestrator.models.asset import Inventory
from otorchestrator.planning.plan import PlanInputs, build_plan
from otorchestrator.planning.waves import stage_waves

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import plan_scale  # noqa: E402
import wave_scale  # noqa: E402

CORPUS = plan_scale.DEFAULT_CSAF


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.external_data
@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"CSAF corpus not present at {CORPUS}")
def test_plan_of_600_generated_assets_against_the_corpus_is_unchanged() -> None:
    advisories, _ = load_advisories([CORPUS])
    pool, catalog = plan_scale.product_pool(advisories)
    inventory = Inventory(source="bench", assets=plan_scale.assets(600, pool))
    plan = build_plan(PlanInputs(inventory, advisories, catalog), datetime(2026, 3, 10, tzinfo=UTC)).sealed()
    assert (len(plan.items), len(plan.unpatched)) == (ITEMS, UNPATCHED)
    assert plan.content_hash == PLAN_HASH
    assert digest(plan.model_dump_json(indent=2)) == PLAN_JSON


def test_wave_plan_of_800_generated_assets_is_unchanged() -> None:
    plan = wave_scale.generated_plan(800)
    wave_plan = stage_waves(plan, wave_scale.POLICY, wave_scale.NOW)
    assert wave_plan.content_hash == WAVES_HASH
    assert digest(wave_plan.model_dump_json(indent=2)) == WAVES_JSON


ITEMS, UNPATCHED = 817, 1092
PLAN_HASH = "jcs-sha256:fa7ea565a4838edaf6b3e53fc184b133752206901f595ec198f3705b2c93acf4"
PLAN_JSON = "28fc9cc52e0f33f4770f47223005513f865dc64f08ab5966e6b45a94606d6453"
WAVES_HASH = "jcs-sha256:e79c754670ea79d88eb2267aaae65ee07ddce3ba2a2e685b4b30b29e46907b78"
WAVES_JSON = "9ee66cf6f8e96618b040302fbf9b5b20e25476b6ba31c25729b5f46352a3bbe7"
