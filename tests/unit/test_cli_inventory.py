"""`otorch inventory validate|show` and the pure summaries behind the table."""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path

from click.testing import CliRunner

from otorchestrator.cli.inventory import inventory
from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.ot_vars import KNOWN
from otorchestrator.models.asset import OneOffWindow, RecurringWindow
from otorchestrator.reporting.inventory import days_summary, duration_summary, window_summary

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventories"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(inventory, list(args))
    return result.exit_code, result.output


def test_validate_valid_inventory_prints_one_line_and_exits_0() -> None:
    code, out = run("validate", "-i", str(FIXTURES / "valid_ini"))
    assert code == 0
    assert out.splitlines()[0].endswith("8 OT assets valid (1 skipped)")


def test_validate_invalid_inventory_lists_every_problem_and_exits_2() -> None:
    code, out = run("validate", "-i", str(FIXTURES / "invalid"))
    assert code == ExitCode.INPUT_INVALID
    assert "16 problems" in out
    hosts = ("bad-purdue", "bad-role", "float-version", "bad-windows", "bad-safety", "printer-01", "cycle-a")
    for host in hosts:
        assert host in out
    assert "Traceback" not in out


def test_validate_json() -> None:
    code, out = run("validate", "-i", str(FIXTURES / "invalid"), "--json")
    assert code == ExitCode.INPUT_INVALID
    data = json.loads(out)
    assert data["ok"] is False and data["assets"] == 2
    first = data["problems"][0]
    assert set(first) == {"host", "variable", "value", "expected", "source"}
    assert any(n["variable"] == "ot_critcality" for n in data["notes"])


def test_docs_describe_every_variable() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "inventory.md").read_text()
    for name in KNOWN:
        assert f"`{name}`" in docs, name


def test_show_json_and_group_filter() -> None:
    code, out = run("show", "-i", str(FIXTURES / "valid_yaml"), "--json", "--group", "hmis")
    assert code == 0
    assets = json.loads(out[: out.rindex("]") + 1])
    assert [a["name"] for a in assets] == ["nw-hmi-01", "nw-hmi-02"]
    assert assets[0]["role"] == "hmi"


def test_show_table_has_the_columns() -> None:
    code, out = run("show", "-i", str(FIXTURES / "valid_yaml"))
    assert code == 0
    for word in ("host", "purdue", "criticality", "windows", "nw-sis-01", "SIS", "scada-ab"):
        assert word in out


def test_help_has_examples() -> None:
    for command in ("validate", "show"):
        code, out = run(command, "--help")
        assert code == 0
        assert "Examples:" in out


def test_window_summaries() -> None:
    assert days_summary(("mon", "tue", "wed", "sat")) == "mon-wed,sat"
    assert days_summary(("mon", "tue", "wed", "thu", "fri", "sat", "sun")) == "daily"
    assert duration_summary(90) == "1h30"
    assert duration_summary(45) == "45m"
    weekly = RecurringWindow(days=("sat",), start=time(22), duration_minutes=360, timezone="Europe/Berlin")
    assert window_summary(weekly) == "sat 22:00 +6h Europe/Berlin"
    one_off = OneOffWindow.model_validate(
        {"start": "2026-12-05T06:00:00+01:00", "end": "2026-12-05T14:00:00+01:00"}
    )
    assert window_summary(one_off) == "2026-12-05T06:00+01:00 -> 2026-12-05T14:00+01:00"
