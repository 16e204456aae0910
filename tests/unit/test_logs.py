"""Logging: -v/-q levels, JSON lines, the env variables, and secrets redacted before anything is written."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from otorchestrator import logs
from otorchestrator.cli.main import cli
from otorchestrator.store.redact import REDACTED


def test_levels() -> None:
    assert logs.level_from(0, 0, {}) == logging.WARNING
    assert logs.level_from(1, 0, {}) == logging.INFO
    assert logs.level_from(2, 0, {}) == logging.DEBUG
    assert logs.level_from(5, 0, {}) == logging.DEBUG
    assert logs.level_from(0, 1, {}) == logging.ERROR
    assert logs.level_from(0, 9, {}) == logging.CRITICAL
    assert logs.level_from(0, 0, {logs.ENV_LEVEL: "debug"}) == logging.DEBUG
    assert logs.level_from(1, 0, {logs.ENV_LEVEL: "ERROR"}) == logging.INFO  # the flag wins
    with pytest.raises(ValueError, match="OTORCH_LOG_LEVEL='loud'"):
        logs.level_from(0, 0, {logs.ENV_LEVEL: "loud"})


def _emit(capsys: pytest.CaptureFixture[str], fmt: logs.LogFormat, log_file: Path | None = None) -> str:
    logs.configure(logging.INFO, fmt, log_file)
    logs.add_secret("hunter2-become")
    log = logging.getLogger("otorchestrator.execution.test")
    log.debug("not shown at INFO")
    log.info(
        "ansible_become_pass=s3cret used, become %s", "hunter2-become", extra={"run_id": "R1", "host": "h1"}
    )
    try:
        raise RuntimeError("token: abc123 failed")
    except RuntimeError:
        log.exception("boom")
    return capsys.readouterr().err


def test_json_lines_redacted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "sub" / "otorch.jsonl"
    err = _emit(capsys, "json", out)
    records = [json.loads(line) for line in err.splitlines()]
    assert [r["level"] for r in records] == ["INFO", "ERROR"]
    first = records[0]
    assert (
        first["logger"] == "otorchestrator.execution.test"
        and first["run_id"] == "R1"
        and first["host"] == "h1"
    )
    assert first["ts"].endswith("+00:00")
    for text in (err, out.read_text(encoding="utf-8")):
        assert "s3cret" not in text and "hunter2-become" not in text and "abc123" not in text
        assert REDACTED in text
    assert "RuntimeError" in records[1]["exc"]
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_text_format(capsys: pytest.CaptureFixture[str]) -> None:
    err = _emit(capsys, "text")
    assert "INFO otorchestrator.execution.test: " in err and "[run_id=R1 host=h1]" in err
    assert "hunter2-become" not in err and "s3cret" not in err


@click.command()
def _probe() -> None:
    logging.getLogger("otorchestrator.probe").info("probe info")
    logging.getLogger("otorchestrator.probe").warning("probe warning")


def test_root_options_configure_logging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("otorchestrator.cli.main.COMMANDS", {"probe": "-"})
    monkeypatch.setattr("otorchestrator.cli.main._load", lambda name: _probe)
    runner = CliRunner()
    quiet = runner.invoke(cli, ["probe"])
    assert "probe warning" in quiet.stderr and "probe info" not in quiet.stderr
    verbose = runner.invoke(cli, ["-v", "--log-format", "json", "probe"])
    assert [json.loads(line)["message"] for line in verbose.stderr.splitlines()][-2:] == [
        "probe info",
        "probe warning",
    ]
    env = runner.invoke(cli, ["probe"], env={logs.ENV_LEVEL: "ERROR", logs.ENV_FILE: str(tmp_path / "f.log")})
    assert env.stderr == "" and (tmp_path / "f.log").read_text(encoding="utf-8") == ""
    bad = runner.invoke(cli, ["probe"], env={logs.ENV_LEVEL: "LOUD"})
    assert bad.exit_code == 2 and "OTORCH_LOG_LEVEL" in bad.stderr
