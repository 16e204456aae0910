"""The opt-in Mitogen transport: chosen per run (`--transport`) or by the site ($OTORCH_TRANSPORT), refused
before anything starts when it cannot run here, and set in the job's environment by the backend."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_backend import fake_inventory

from otorchestrator.app.errors import AppError
from otorchestrator.app.run_request import run_transport
from otorchestrator.execution import jobenv
from otorchestrator.execution.ansible import AnsibleRunnerBackend
from otorchestrator.execution.backend import PhaseRequest
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.results import Phase

HAS_MITOGEN = importlib.util.find_spec("ansible_mitogen") is not None


def test_ssh_is_the_default_and_the_site_may_choose_mitogen() -> None:
    assert jobenv.default_transport({}) == "ssh"
    assert jobenv.default_transport({"OTORCH_TRANSPORT": "mitogen"}) == "mitogen"
    assert jobenv.transport_problem("ssh") is None
    assert jobenv.transport_env("ssh", {}) == {}


def test_mitogen_not_installed_is_refused_before_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ansible_mitogen" else real(name, *a)
    )
    problem = jobenv.transport_problem("mitogen")
    assert problem is not None and "mitogen package is not installed" in problem
    with pytest.raises(AppError) as caught:
        run_transport("mitogen")
    assert caught.value.code == ExitCode.REFUSED and "use --transport ssh" in str(caught.value)
    assert run_transport(None) == "ssh"  # the default does not need it


@pytest.mark.skipif(not HAS_MITOGEN, reason="the mitogen extra is not installed")
def test_an_unsupported_ansible_core_is_refused() -> None:
    assert jobenv.transport_problem("mitogen", "2.19.14") is None
    assert jobenv.transport_problem("mitogen", "2.20.0") is None
    for release in ("2.9.27", "2.21.0"):
        problem = jobenv.transport_problem("mitogen", release)
        assert problem is not None and f"ansible-core {release} is not supported by Mitogen" in problem
    assert "expected ssh or mitogen" in str(jobenv.transport_problem("paramiko"))


@pytest.mark.skipif(not HAS_MITOGEN, reason="the mitogen extra is not installed")
def test_the_backend_sets_mitogens_strategy_in_the_job_env(tmp_path: Path) -> None:
    backend = AnsibleRunnerBackend(tmp_path / "state", project_dir=tmp_path, shm_dir=tmp_path)
    inventory = fake_inventory(["h"])
    ssh = backend._env(PhaseRequest(phase=Phase.SCAN, hosts=("h",), inventory=inventory), "t", tmp_path)
    assert "ANSIBLE_STRATEGY" not in ssh and "ANSIBLE_STRATEGY_PLUGINS" not in ssh
    request = PhaseRequest(phase=Phase.SCAN, hosts=("h",), inventory=inventory, transport="mitogen")
    env = backend._env(request, "t", tmp_path)
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    plugins = Path(env["ANSIBLE_STRATEGY_PLUGINS"].split(":")[0])
    assert (plugins / "mitogen_linear.py").is_file() and plugins.parts[-3:] == (
        "ansible_mitogen",
        "plugins",
        "strategy",
    )
    kept = jobenv.transport_env("mitogen", {"ANSIBLE_STRATEGY_PLUGINS": "/site/strategy"})
    assert kept["ANSIBLE_STRATEGY_PLUGINS"].endswith(":/site/strategy")  # the site's kept after Mitogen's


def test_run_takes_transport_and_refuses_an_unknown_one() -> None:
    from otorchestrator.cli.main import cli

    help_text = CliRunner().invoke(cli, ["run", "--help"]).output
    assert "--transport [ssh|mitogen]" in help_text
    result = CliRunner().invoke(cli, ["run", "--operator", "x", "--transport", "telnet", "wp.json"])
    assert result.exit_code == 2 and "'telnet' is not one of 'ssh', 'mitogen'" in result.output
