"""`otorch waves`: reads a sealed plan, refuses a tampered one, writes and prints the wave plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from otorchestrator.app.planning import render_plan
from otorchestrator.cli.waves import waves
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.waves import WavePlan
from otorchestrator.planning.policy import PolicyError, load_policy, parse_policy

from ._build import approval, lab_plan

NOW = "2026-11-22T02:00:00+00:00"
LAB_POLICY = Path(__file__).resolve().parents[3] / "inventories" / "lab" / "policy.yml"


def _plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(lab_plan((approval("nw-scada-a"), approval("nw-scada-b"))).model_dump_json())
    return path


def test_writes_json_and_prints_tables(tmp_path: Path) -> None:
    out = tmp_path / "waves.json"
    args = [str(_plan_file(tmp_path)), "--policy", str(LAB_POLICY), "--now", NOW, "-o", str(out)]
    result = CliRunner().invoke(waves, args)
    assert result.exit_code == 0, result.output
    wp = WavePlan.model_validate_json(out.read_text())
    assert wp.content_hash == wp.compute_hash()
    assert wp.waves[0].name == "canary" and wp.waves[0].failure_budget == 1
    assert "Timeline" in result.output and "nw-sis-01" in result.output and "canary" in result.output


def test_json_to_stdout(tmp_path: Path) -> None:
    result = CliRunner().invoke(waves, [str(_plan_file(tmp_path)), "--now", NOW, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["plan_hash"].startswith("jcs-sha256:")


def test_tampered_plan_is_refused(tmp_path: Path) -> None:
    path = _plan_file(tmp_path)
    data = json.loads(path.read_text())
    data["items"][0]["decision"] = "immediate"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(waves, [str(path), "--now", NOW])
    assert result.exit_code == ExitCode.INPUT_INVALID
    assert "changed after it was sealed" in result.output


def test_bad_policy_names_file_and_field(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("max_hosts_per_wave: 0\n")
    result = CliRunner().invoke(waves, [str(_plan_file(tmp_path)), "--policy", str(policy), "--now", NOW])
    assert result.exit_code == ExitCode.INPUT_INVALID
    assert "policy.yml: max_hosts_per_wave: expected greater than or equal to 1" in result.output


def test_naive_now_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(waves, [str(_plan_file(tmp_path)), "--now", "2026-11-22T02:00:00"])
    assert result.exit_code == 2 and "UTC offset" in result.output


def test_strict_exits_infeasible(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("horizon_hours: 1\nhost_overhead_minutes: 120\n")
    args = [str(_plan_file(tmp_path)), "--policy", str(policy), "--now", NOW, "--strict"]
    result = CliRunner().invoke(waves, args)
    assert result.exit_code == ExitCode.INFEASIBLE


def test_policy_errors() -> None:
    for text, expected in [
        ("foo: 1", "foo: unknown field"),
        ("[1, 2]", "expected a mapping"),
        ("a: [", "line 1"),
        ("include_decisions: [blocked]", "never deploy"),
        ("failure_budget: {hosts: 1, percent: 5}", "either hosts or percent"),
        ("canary: {cover: [colour]}", "canary.cover[0]"),
        ("approvals: [{kind: asset, subject: x}]", "approvals[0].approved_by: missing"),
    ]:
        try:
            parse_policy(text, "p.yml")
        except PolicyError as exc:
            assert expected in str(exc), (text, str(exc))
            assert str(exc).startswith("p.yml")
        else:
            raise AssertionError(text)


def test_lab_policy_loads() -> None:
    policy = load_policy(LAB_POLICY)
    assert policy.max_hosts_per_wave == 3 and policy.max_hosts_per_zone_per_wave == 2
    assert policy.failure_budget.for_wave(3) == 1 and not policy.failure_budget.count_blocked
    assert load_policy(None).max_hosts_per_wave == 10


def test_yaml_plan_is_read_by_its_suffix(tmp_path: Path) -> None:
    """`otorch plan -o plan.yaml` writes YAML: `otorch waves plan.yaml` stages the same waves."""
    plan = lab_plan((approval("nw-scada-a"), approval("nw-scada-b")))
    staged = []
    for name in ("plan.json", "plan.yaml", "plan.YML"):
        path = tmp_path / name
        path.write_text(render_plan(plan, path.suffix.lower()))
        result = CliRunner().invoke(waves, [str(path), "--now", NOW, "--json"])
        assert result.exit_code == 0, result.output
        staged.append(json.loads(result.output))
    assert staged[0] == staged[1] == staged[2]
    assert staged[0]["plan_hash"] == plan.content_hash


def test_unreadable_plan_names_the_file_and_the_format(tmp_path: Path) -> None:
    plan = lab_plan(())
    cases = [
        ("plan.txt", render_plan(plan, ".yaml"), "a YAML plan needs a .yml or .yaml suffix"),
        ("plan.yaml", "items: [\n", "not valid YAML"),
        ("plan.yml", "- 1\n", "not a plan: found list"),
        ("plan.json", "{", "plan.json:1:2: not valid JSON"),
    ]
    for name, text, expected in cases:
        path = tmp_path / name
        path.write_text(text)
        result = CliRunner().invoke(waves, [str(path), "--now", NOW])
        assert result.exit_code == ExitCode.INPUT_INVALID, name
        flat = " ".join(result.output.split())
        assert name in flat and expected in flat, (name, result.output)


def test_hash_independent_of_how_the_inventory_was_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_file = _plan_file(tmp_path)
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts.yml").write_text("all: {}\n")
    monkeypatch.chdir(tmp_path)
    hashes = set()
    for typed in (
        "inv/hosts.yml",
        "./inv/hosts.yml",
        str(tmp_path / "inv" / "hosts.yml"),
        "inv/../inv/hosts.yml",
    ):
        result = CliRunner().invoke(waves, [str(plan_file), "--now", NOW, "--json", "-i", typed])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["inventory"] == str(tmp_path / "inv" / "hosts.yml")
        hashes.add(data["content_hash"])
    assert len(hashes) == 1
