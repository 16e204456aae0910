from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from otorchestrator.cli.plan import plan

LAB = Path(__file__).parents[2] / "inventories" / "lab"
ARGS = [
    "-i", str(LAB / "hosts.yml"),
    "--advisories", str(LAB / "advisories"),
    "--kev", str(LAB / "kev.json"),
    "--catalog", str(LAB / "catalog.yml"),
    "--exemptions", str(LAB / "exemptions.yml"),
    "--now", "2026-03-10T08:00:00+00:00",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _needs_inventory_reader() -> None:
    pytest.importorskip("otorchestrator.intake.inventory")


def test_plan_twice_is_byte_identical(tmp_path: Path) -> None:
    runner = CliRunner()
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    r1 = runner.invoke(plan, [*ARGS, "-o", str(first)])
    r2 = runner.invoke(plan, [*ARGS, "-o", str(second)])
    assert r1.exit_code == 0, r1.output
    assert r2.exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    data = json.loads(first.read_text())
    assert data["content_hash"].startswith("sha256:")
    assert {i["decision"] for i in data["items"]} >= {
        "out_of_cycle",
        "scheduled",
        "defer",
        "exempt",
        "blocked",
    }
    assert set(data["inputs"]) == {"advisories", "catalog", "exemptions", "inventory", "kev"}
    assert "exempt" in r1.output and "nw-gw-01" in r1.output


def test_yaml_by_suffix(tmp_path: Path) -> None:
    out = tmp_path / "plan.yaml"
    result = CliRunner().invoke(plan, [*ARGS, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("schema_version: 1")


def test_bad_catalog_exits_3_and_names_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yml"
    bad.write_text("patches:\n  - {id: P, vendor: V, product: X, target_version: '1'}\n")
    args = [a if a != str(LAB / "catalog.yml") else str(bad) for a in ARGS]
    result = CliRunner().invoke(plan, [*args, "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 3
    assert "$.patches[0].fixed_version" in result.output
    assert not (tmp_path / "p.json").exists()


def test_broken_advisory_is_reported_not_fatal(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    out = tmp_path / "p.json"
    result = CliRunner().invoke(plan, [*ARGS, "--advisories", str(broken), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 skipped" in result.output and "broken.json" in result.output
    assert json.loads(out.read_text())["import_problems"][0]["path"] == "$"


def test_naive_now_is_a_usage_error(tmp_path: Path) -> None:
    args = [*ARGS[:-1], "2026-03-10T08:00:00", "-o", str(tmp_path / "p.json")]
    assert CliRunner().invoke(plan, args).exit_code == 2
