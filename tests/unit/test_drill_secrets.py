"""`otorch drill --secret-var NAME`, as `otorch run --secret-var`: the value comes from the environment
variable NAME (removed once read) or a hidden prompt, reaches the playbooks' request, and is in no log
line, artifact, store row, audit record or report; refused without a RAM filesystem, nothing touched."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_drill_cli import LAB, FakeHosts

from otorchestrator.app import run_request as app_request
from otorchestrator.execution.backend import PhaseOutcome, PhaseRequest, TaskEvent
from otorchestrator.exitcodes import ExitCode

CANARY = "CANARY-drill-s3cr3t-41c7"
NAME = "otorch_drill_pw"


class Leaky(FakeHosts):
    """Hands the secret back in every place a playbook could: a task name, a result's message and values."""

    def run_phase(self, request: PhaseRequest, on_event: Any = None, cancel: Any = None) -> PhaseOutcome:
        for host in request.hosts:
            if on_event is not None:
                on_event(TaskEvent(host=host, phase=request.phase, task=f"echo {CANARY}", status="ok"))
        outcome = super().run_phase(request, on_event, cancel)
        results = {
            h: r.model_copy(
                update={"message": f"task printed {CANARY}", "values": {**r.values, "pw": CANARY}}
            )
            for h, r in outcome.results.items()
        }
        return outcome.model_copy(update={"results": results})


def _drill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: FakeHosts, *args: str) -> Any:
    from otorchestrator.cli import drill as drill_cli

    monkeypatch.setattr(drill_cli, "make_backend", lambda paths: backend)
    base = [
        "--inventory", str(LAB), "--catalog", str(LAB / "catalog.yml"), "--patch", "NWC-P-2026-0106",
        "--operator", "bob", "--state-dir", str(tmp_path / "st"), "--drill-id", "D1", "--group", "nw-hmi-02",
    ]  # fmt: skip
    return CliRunner().invoke(drill_cli.drill, [*base, *args])


def test_the_secret_reaches_the_playbooks_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(NAME, CANARY)
    backend = Leaky()
    with caplog.at_level(logging.DEBUG):
        result = _drill(tmp_path, monkeypatch, backend, "--secret-var", NAME, "--json")
    assert result.exit_code == 0, result.output
    assert backend.requests and all(r.secret_vars == {NAME: CANARY} for r in backend.requests)
    assert NAME not in os.environ  # ansible-runner copies the environment into its artifacts
    assert CANARY not in result.output and CANARY not in caplog.text
    files = [p for p in (tmp_path / "st").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"state.db", "audit.jsonl", "drill-D1.json"}
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
    assert b"***REDACTED***" in (tmp_path / "st" / "state.db").read_bytes()  # stored, scrubbed


def test_the_secret_is_prompted_for_when_not_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otorchestrator.cli import drill as drill_cli

    monkeypatch.delenv(NAME, raising=False)
    backend = Leaky()
    monkeypatch.setattr(drill_cli, "make_backend", lambda paths: backend)
    base = [
        "--inventory", str(LAB), "--catalog", str(LAB / "catalog.yml"), "--patch", "NWC-P-2026-0106",
        "--operator", "bob", "--state-dir", str(tmp_path / "st"), "--group", "nw-hmi-02",
        "--secret-var", NAME,
    ]  # fmt: skip
    result = CliRunner().invoke(drill_cli.drill, base, input=CANARY + "\n")
    assert result.exit_code == 0, result.output
    assert f"value of secret variable {NAME}" in result.output and CANARY not in result.output
    assert all(r.secret_vars == {NAME: CANARY} for r in backend.requests)


def test_the_drill_is_refused_without_a_ram_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otorchestrator.execution import secretfiles

    monkeypatch.setattr(app_request, "channel_problem", lambda: secretfiles.channel_problem(tmp_path / "no"))
    monkeypatch.setenv(NAME, CANARY)
    backend = Leaky()
    result = _drill(tmp_path, monkeypatch, backend, "--secret-var", NAME)
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert "RAM filesystem" in result.output and "never on disk" in result.output
    assert backend.calls == [] and os.environ[NAME] == CANARY  # refused before anything was read


def test_help_shows_the_option_with_an_example() -> None:
    from otorchestrator.cli.drill import drill

    text = CliRunner().invoke(drill, ["--help"]).output
    assert "--secret-var NAME" in text and "--secret-var REPO_TOKEN" in text
