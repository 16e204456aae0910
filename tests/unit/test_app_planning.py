"""`app.planning.plan`: what `otorch plan` and the demo share (gather, build, seal, write)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from otorchestrator.app import AppError, planning
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.plan import Plan

LAB = Path(__file__).parents[2] / "inventories" / "lab"
NOW = datetime(2026, 3, 10, 8, tzinfo=UTC)


def _plan(output: Path, **kw: object) -> planning.Planned:
    return planning.plan(
        LAB / "hosts.yml", (LAB / "advisories",), kw.pop("catalog", LAB / "catalog.yml"),  # type: ignore[arg-type]
        NOW, output, kev=LAB / "kev.json", exemptions=LAB / "exemptions.yml", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_plan_writes_the_sealed_plan_it_returns(tmp_path: Path) -> None:
    planned = _plan(tmp_path / "sub" / "plan.json")
    written = Plan.model_validate_json((tmp_path / "sub" / "plan.json").read_text())
    assert written.content_hash == planned.plan.content_hash == planned.plan.compute_hash()
    assert written.created_at == NOW and planned.output == tmp_path / "sub" / "plan.json"
    assert planned.imported.files == len(planned.imported.advisories) > 0
    assert set(json.loads(planned.output.read_text())["inputs"]) >= {"advisories", "catalog", "kev"}


def test_a_yaml_name_gets_yaml(tmp_path: Path) -> None:
    assert _plan(tmp_path / "plan.yml").output.read_text().startswith("schema_version: 1")


def test_an_unusable_catalog_is_invalid_input_with_its_field_and_nothing_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yml"
    bad.write_text("patches:\n  - {id: P, vendor: V, product: X, target_version: '1'}\n")
    with pytest.raises(AppError) as refused:
        _plan(tmp_path / "p.json", catalog=bad)
    heading, *problems = refused.value.message.splitlines()
    assert refused.value.code is ExitCode.INPUT_INVALID and heading == "input unusable, no plan written:"
    assert any(str(bad) in p and "$.patches[0].fixed_version" in p for p in problems), problems
    assert not (tmp_path / "p.json").exists()


def test_an_unusable_inventory_names_the_inventory(tmp_path: Path) -> None:
    broken = tmp_path / "hosts.yml"
    broken.write_text("all:\n  hosts:\n    h1:\n      ot_purdue_level: nine\n")
    with pytest.raises(AppError) as refused:
        planning.plan(broken, (LAB / "advisories",), LAB / "catalog.yml", NOW, tmp_path / "p.json")
    assert refused.value.code is ExitCode.INPUT_INVALID
    assert refused.value.message.startswith(f"inventory {broken} is unusable:\n  ")
    assert not (tmp_path / "p.json").exists()


def test_the_wave_policy_is_the_files_or_the_defaults_and_a_bad_one_is_invalid_input(tmp_path: Path) -> None:
    assert planning.wave_policy(LAB / "policy.yml") != planning.wave_policy(None)
    bad = tmp_path / "policy.yml"
    bad.write_text("canary_size: many\n")
    with pytest.raises(AppError) as refused:
        planning.wave_policy(bad)
    assert refused.value.code is ExitCode.INPUT_INVALID and str(bad) in refused.value.message
