"""`otorch run|resume|status|rollback|abort` with the fake backend (no Ansible)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_backend import FakeBackend, fake_hosts, make_plan, write_inventory

from otorchestrator.app import artifacts as app_artifacts
from otorchestrator.app import run_request as app_request
from otorchestrator.cli import run as cli_run
from otorchestrator.cli.main import cli
from otorchestrator.execution.artifacts import artifact_digests
from otorchestrator.models.results import Phase
from otorchestrator.models.waves import WavePlan
from otorchestrator.store.audit import read_events
from otorchestrator.store.clock import FakeClock, SystemClock
from otorchestrator.store.state import StateStore


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    plan = make_plan([["a"], ["b", "gw"]], budget=1)
    plan_file = tmp_path / "waves.json"
    plan_file.write_text(plan.model_dump_json())
    inventory = tmp_path / "inventory"
    write_inventory(plan, inventory)
    backend = FakeBackend(fake_hosts(plan), FakeClock(SystemClock().now()), {("gw", Phase.INSTALL): "break"})
    backend.seconds_per_phase = 0
    monkeypatch.setattr(cli_run, "make_backend", lambda paths: backend)
    # the fake patches' artifacts are "in the repository" with their approved hashes
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setattr(app_artifacts, "default_artifact_dirs", lambda catalog, inventory: [repo])
    monkeypatch.setattr(
        app_artifacts,
        "artifact_digests",
        lambda patches, dirs: {p.id: p.sha256 for p in patches if dirs == [repo]},
    )
    monkeypatch.delenv("OTORCH_OPERATOR", raising=False)
    return {"plan": plan_file, "inv": inventory, "state": tmp_path / "state", "backend": backend}


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_json_status_and_exit_codes(setup: dict[str, Any]) -> None:
    s = setup
    common = ["--state-dir", str(s["state"])]
    result = _invoke(
        "run", str(s["plan"]), "-i", str(s["inv"]), "--yes", "--json", "--operator", "alice", *common
    )
    assert result.exit_code == 3, result.output
    data = json.loads(result.output)
    assert {h["host"]: h["state"] for h in data["hosts"]} == {
        "a": "succeeded",
        "b": "succeeded",
        "gw": "rolled_back",
    }
    assert data["audit_log"].endswith("audit.jsonl")
    run_id = data["run"]["run_id"]
    status = _invoke("status", run_id, "--json", *common)
    assert status.exit_code == 0 and json.loads(status.output)["run"]["status"] == "completed"
    assert _invoke("status", "--exit-code", *common).exit_code == 3
    text = _invoke("status", *common)
    assert "rolled_back" in text.output and "run lock: free" in text.output
    rollback = _invoke("rollback", run_id, "--host", "a", "--yes", "--operator", "bob", *common)
    assert rollback.exit_code == 0, rollback.output
    assert s["backend"].hosts["a"].versions == {"pkg-a": "1.0.0"}


def test_operator_is_required_and_read_from_env(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = setup
    args = ["run", str(s["plan"]), "-i", str(s["inv"]), "--yes", "--json", "--state-dir", str(s["state"])]
    assert _invoke(*args).exit_code == 2
    monkeypatch.setenv("OTORCH_OPERATOR", "carol")
    result = _invoke(*args)
    assert json.loads(result.output)["run"]["operator"] == "carol"


def test_second_run_is_refused_naming_the_holder(setup: dict[str, Any]) -> None:
    s = setup
    s["state"].mkdir()
    with StateStore(s["state"] / "state.db") as store, store.lock("run-x", "dave", SystemClock().now()):
        result = CliRunner().invoke(
            cli,
            [
                "run",
                str(s["plan"]),
                "-i",
                str(s["inv"]),
                "--yes",
                "--operator",
                "alice",
                "--state-dir",
                str(s["state"]),
            ],
        )
    assert result.exit_code == 5
    assert "operator dave, run run-x" in result.output


def test_declined_wave_halts_and_resume_continues(setup: dict[str, Any]) -> None:
    s = setup
    common = ["--state-dir", str(s["state"]), "--operator", "alice"]
    result = CliRunner().invoke(
        cli, ["run", str(s["plan"]), "-i", str(s["inv"]), "--json", *common], input="n\n"
    )
    assert result.exit_code == 4
    data = json.loads(result.output[result.output.index("{") :])
    run_id = data["run"]["run_id"]
    resumed = _invoke("resume", run_id, "--yes", "--json", *common)
    assert resumed.exit_code == 3, resumed.output
    assert json.loads(resumed.output)["counts"] == {"rolled_back": 1, "succeeded": 2}


def test_abort_marks_a_run_that_is_not_live(setup: dict[str, Any]) -> None:
    s = setup
    common = ["--state-dir", str(s["state"]), "--operator", "alice"]
    result = CliRunner().invoke(
        cli, ["run", str(s["plan"]), "-i", str(s["inv"]), "--json", *common], input="n\n"
    )
    run_id = json.loads(result.output[result.output.index("{") :])["run"]["run_id"]
    aborted = _invoke("abort", run_id, *common)
    assert aborted.exit_code == 0 and "aborted" in aborted.output
    assert (
        json.loads(_invoke("status", run_id, "--json", "--state-dir", str(s["state"])).output)["run"][
            "status"
        ]
        == "aborted"
    )


def test_timeouts_are_options_and_derived_by_default(setup: dict[str, Any]) -> None:
    s = setup
    common = ["run", str(s["plan"]), "-i", str(s["inv"]), "--yes", "--json", "--operator", "alice"]
    result = _invoke(*common, "--state-dir", str(s["state"]), "--phase-timeout", "77", "--task-timeout", "5")
    assert result.exit_code == 3, result.output
    assert {(c.timeout_s, c.task_timeout_s) for c in s["backend"].calls} == {(77, 5)}
    s["backend"].calls.clear()
    result = _invoke(*common, "--state-dir", str(s["state"].with_name("other")))
    assert result.exit_code == 3, result.output
    # the fake plan's hosts expect 10 minutes: twice that, above the 600 s floor; tasks get 600 s
    assert {(c.timeout_s, c.task_timeout_s) for c in s["backend"].calls} == {(1200, 600)}


def test_secret_vars_are_refused_without_a_ram_filesystem(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from otorchestrator.execution import secretfiles

    monkeypatch.setattr(secretfiles, "SHM_DIR", tmp_path / "no-shm")
    monkeypatch.setattr(
        app_request, "channel_problem", lambda: secretfiles.channel_problem(tmp_path / "no-shm")
    )
    monkeypatch.setenv("vault_pw", "s3cret")
    s = setup
    result = _invoke(
        "run", str(s["plan"]), "-i", str(s["inv"]), "--yes", "--operator", "alice",
        "--state-dir", str(s["state"]), "--secret-var", "vault_pw",
    )  # fmt: skip
    assert result.exit_code == 5
    assert "RAM filesystem" in result.output and "never on disk" in result.output
    assert s["backend"].calls == []


def test_a_patch_with_a_sha256_and_no_artifact_location_is_refused(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = setup
    monkeypatch.setattr(app_artifacts, "default_artifact_dirs", lambda catalog, inventory: [])
    args = ["run", str(s["plan"]), "-i", str(s["inv"]), "--yes", "--json", "--operator", "alice"]
    result = _invoke(*args, "--state-dir", str(s["state"]))
    assert result.exit_code == 5
    assert "no artifact location is known" in result.output and "--no-artifact-check" in result.output
    assert s["backend"].calls == []
    # the explicit override runs, and it is on the record before anything ran
    result = _invoke(*args, "--state-dir", str(s["state"]), "--no-artifact-check")
    assert result.exit_code == 3, result.output
    trail = [e for _, e in read_events(s["state"] / "audit.jsonl")]
    override = [e for e in trail if e.kind == "safety_override"]
    assert len(override) == 1 and override[0].operator == "alice"
    assert override[0].result == "artifact_check_skipped" and "P-a" in override[0].detail["reason"]
    first_phase = next(i for i, e in enumerate(trail) if e.kind == "phase_started")
    assert trail.index(override[0]) < first_phase
    started = next(e for e in trail if e.kind == "run_started")
    assert started.detail["artifact_check"] is False


def test_a_changed_package_in_the_repository_refuses_the_run(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """apt mode: the package the hosts install (found through the repository's Packages index) is hashed."""
    s = setup
    plan = WavePlan.model_validate_json(Path(s["plan"]).read_text())
    repo = tmp_path / "apt"
    repo.mkdir()
    stanzas = []
    for patch in plan.patches:
        deb = repo / f"{patch.package}_{patch.target_version}_all.deb"
        deb.write_bytes(b"package " + patch.id.encode())
        stanzas.append(f"Package: {patch.package}\nVersion: {patch.target_version}\nFilename: ./{deb.name}\n")
    (repo / "Packages").write_text("\n".join(stanzas))
    monkeypatch.setattr(app_artifacts, "artifact_digests", artifact_digests)
    args = ["run", str(s["plan"]), "-i", str(s["inv"]), "--yes", "--json", "--operator", "alice"]
    result = _invoke(*args, "--state-dir", str(s["state"]), "--artifacts", str(repo))
    assert result.exit_code == 5
    digest = artifact_digests(plan.patches, [repo])["P-a"]
    assert f"P-a: package pkg-a 1.1.0 has sha256 {digest}, the plan approved {'0' * 64}" in result.output
    assert s["backend"].calls == []


def _widest_job(backend: FakeBackend) -> int:
    return max(len(call.hosts) for call in backend.calls)


def test_forks_bounds_the_hosts_of_a_wave_in_their_chain_at_once(setup: dict[str, Any]) -> None:
    """Wave 1's b and gw are ready together: by default one job of both (10 forks); `--forks 1` one host at a
    time, its whole chain before the next starts."""
    s = setup
    args = ["run", str(s["plan"]), "-i", str(s["inv"]), "--yes", "--json", "--operator", "alice"]
    result = _invoke(*args, "--state-dir", str(s["state"]), "--forks", "1")
    assert result.exit_code == 3, result.output
    assert _widest_job(s["backend"]) == 1
    order = [call.hosts[0] for call in s["backend"].calls]
    assert order.index("gw") > max(i for i, host in enumerate(order) if host == "b")
    s["backend"].calls.clear()
    result = _invoke(*args, "--state-dir", str(s["state"].with_name("default")))
    assert result.exit_code == 3, result.output
    assert _widest_job(s["backend"]) == 2


def test_resume_takes_forks(setup: dict[str, Any]) -> None:
    s = setup
    common = ["--state-dir", str(s["state"]), "--operator", "alice"]
    result = CliRunner().invoke(
        cli, ["run", str(s["plan"]), "-i", str(s["inv"]), "--json", *common], input="n\n"
    )
    assert result.exit_code == 4  # wave 1 (b, gw) declined: resume runs it
    run_id = json.loads(result.output[result.output.index("{") :])["run"]["run_id"]
    s["backend"].calls.clear()
    resumed = _invoke("resume", run_id, "--yes", "--json", "--forks", "1", *common)
    assert resumed.exit_code == 3, resumed.output
    assert {call.hosts for call in s["backend"].calls} >= {("b",), ("gw",)}
    assert _widest_job(s["backend"]) == 1
    trail = [e for _, e in read_events(s["state"] / "audit.jsonl")]
    forks = {e.kind: e.detail["forks"] for e in trail if e.kind in ("run_started", "run_resumed")}
    assert forks == {"run_started": 10, "run_resumed": 1}  # the default, then --forks 1


@pytest.mark.parametrize("value", ["0", "257", "-3", "four"])
def test_forks_out_of_range_is_a_usage_error_naming_the_value(setup: dict[str, Any], value: str) -> None:
    s = setup
    for command in (["run", str(s["plan"])], ["resume", "run-x"]):
        result = _invoke(*command, "--operator", "alice", "--state-dir", str(s["state"]), "--forks", value)
        assert result.exit_code == 2
        assert "Invalid value for '--forks'" in result.output and value in result.output, result.output
    assert s["backend"].calls == []


def test_forks_help_names_range_default_and_an_example() -> None:
    for command in ("run", "resume"):
        text = " ".join(_invoke(command, "--help").output.split())
        assert "--forks N" in text and "1-256 (default: 10)" in text and "Example: --forks 4" in text
    assert "--forks 4" in _invoke("run", "--help").output.split("Examples:")[1]


def test_the_library_refuses_forks_out_of_range() -> None:
    assert app_request.run_forks(None) == 10 and app_request.run_forks(256) == 256
    for value in (0, 257):
        with pytest.raises(app_request.AppError) as caught:
            app_request.run_forks(value)
        assert caught.value.usage and f"got {value}" in str(caught.value)
