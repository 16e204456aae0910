"""`app.staging.stage`: what `otorch waves` and the demo share (plan sealing out of the CLI)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from waves._build import approval, lab_plan

from otorchestrator.app import AppError, staging
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.waves import WavePlan

NOW = datetime(2026, 11, 22, 2, tzinfo=UTC)
LAB_POLICY = Path(__file__).resolve().parents[2] / "inventories" / "lab" / "policy.yml"


def test_stage_writes_the_sealed_wave_plan_and_its_page(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(lab_plan((approval("nw-scada-a"), approval("nw-scada-b"))).model_dump_json())
    out, page = tmp_path / "waves.json", tmp_path / "waves.html"
    staged = staging.stage(
        plan_file, NOW, policy_file=LAB_POLICY, inventory="inv", output=out, html_file=page
    )
    written = WavePlan.model_validate_json(out.read_text())
    assert written.content_hash == written.compute_hash() == staged.wave_plan.content_hash
    assert written.inventory == str(Path("inv").resolve()) and page.read_text().startswith("<!")
    assert staged.gate.problems == []


def test_a_tampered_plan_is_refused_as_invalid_input(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(lab_plan(()).model_dump_json().replace("nw-hmi-01", "nw-hmi-99", 1))
    with pytest.raises(AppError) as refused:
        staging.stage(plan_file, NOW, output=tmp_path / "waves.json")
    assert refused.value.code is ExitCode.INPUT_INVALID and not (tmp_path / "waves.json").exists()
