"""Plan and wave-plan files: the right kind is read back, the wrong kind and broken files are refused with
one sentence naming the file (no validation dump)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otorchestrator.app.planning import render_plan
from otorchestrator.intake.planfiles import PlanFileError, file_kind, load_plan, load_wave_plan
from otorchestrator.models.policy import WavePolicy
from otorchestrator.planning.waves import stage_waves

from ._build import NOW, approval, lab_plan


def _files(tmp_path: Path) -> tuple[Path, Path]:
    plan = lab_plan((approval("nw-scada-a"),))
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(render_plan(plan, ".json"))
    waves_path = tmp_path / "waves.json"
    waves_path.write_text(stage_waves(plan, WavePolicy(), NOW).model_dump_json(indent=2))
    return plan_path, waves_path


def test_each_kind_reads_back(tmp_path: Path) -> None:
    plan_path, waves_path = _files(tmp_path)
    plan = load_plan(plan_path)
    assert load_wave_plan(waves_path).plan_hash == plan.content_hash
    yaml_path = tmp_path / "plan.yml"
    yaml_path.write_text(render_plan(plan, ".yml"))
    assert load_plan(yaml_path).content_hash == plan.content_hash


def test_plan_given_for_a_wave_plan_is_refused_with_the_next_step(tmp_path: Path) -> None:
    plan_path, _ = _files(tmp_path)
    with pytest.raises(PlanFileError) as err:
        load_wave_plan(plan_path)
    text = str(err.value)
    assert text.startswith(f"{plan_path}: this is a plan (from `otorch plan`), not a wave plan")
    assert "otorch waves" in text and "validation error" not in text and "\n" not in text


def test_wave_plan_given_for_a_plan_is_refused(tmp_path: Path) -> None:
    _, waves_path = _files(tmp_path)
    with pytest.raises(PlanFileError, match=r"this is a wave plan .* not a plan"):
        load_plan(waves_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{\n  "items": [,]\n}', r"plan.json:2:13: not valid JSON"),
        ("items: []\n", r"not valid JSON .*a YAML plan needs a .yml or .yaml suffix"),
        ("[1, 2]", r"not a plan: found list"),
        ('{"catalog": []}', r"not a plan: found a mapping without its top-level keys"),
    ],
)
def test_broken_files_name_file_and_place(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(PlanFileError, match=expected):
        load_plan(path)


def test_yaml_syntax_error_is_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "plan.yml"
    path.write_text("assets: []\nitems: [\n  - a\n")
    with pytest.raises(PlanFileError, match=r"plan.yml:\d+:\d+: not valid YAML"):
        load_plan(path)


def test_changed_wave_plan_is_refused(tmp_path: Path) -> None:
    _, waves_path = _files(tmp_path)
    data = json.loads(waves_path.read_text())
    data["waves"][0]["failure_budget"] = 9
    waves_path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match="changed after it was staged"):
        load_wave_plan(waves_path)


def test_invalid_field_is_summarised_not_dumped(tmp_path: Path) -> None:
    _, waves_path = _files(tmp_path)
    data = json.loads(waves_path.read_text())
    data["waves"][0]["kind"] = "sideways"
    waves_path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError) as err:
        load_wave_plan(waves_path)
    assert "waves.0.kind:" in str(err.value) and "For further information" not in str(err.value)


def test_file_kind() -> None:
    assert file_kind({"waves": [], "plan_hash": "x"}) == "wave plan"
    assert file_kind({"items": [], "assets": [], "patches": []}) == "plan"
    assert file_kind([]) == "unknown"
