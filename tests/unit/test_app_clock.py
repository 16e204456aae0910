"""One clock and one parser of moments for every command (otorchestrator/app/clock.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from otorchestrator.app import clock
from otorchestrator.app.clock import MomentError, parse_moment
from otorchestrator.cli.main import cli
from otorchestrator.store.clock import FakeClock


def test_a_moment_needs_an_offset_unless_naive_is_utc() -> None:
    assert parse_moment("2026-11-22T02:00:00+01:00") == datetime(2026, 11, 22, 1, tzinfo=UTC)
    with pytest.raises(MomentError, match="needs a UTC offset"):
        parse_moment("2026-11-22T02:00:00")
    assert parse_moment("2026-03-01", naive_is_utc=True) == datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(MomentError, match="expected an ISO-8601 datetime, got 'tuesday'"):
        parse_moment("tuesday", naive_is_utc=True)


@pytest.mark.parametrize("command", ["plan", "waves", "watch"])
def test_every_now_option_is_the_same_option(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--now", "2026-11-22T02:00:00", "x"])
    assert result.exit_code == 2 and "needs a UTC offset" in result.output, result.output


def test_commands_read_the_one_clock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`otorch plan` without --now records the app clock's time (a test swaps the clock, nothing else)."""
    lab = Path(__file__).parents[2] / "inventories" / "lab"
    monkeypatch.setattr(clock, "CLOCK", FakeClock(datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)))
    out = tmp_path / "plan.json"
    args = ["plan", "-i", str(lab), "--advisories", str(lab / "advisories")]
    result = CliRunner().invoke(cli, [*args, "--catalog", str(lab / "catalog.yml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["created_at"] == "2031-05-06T07:08:09Z"
