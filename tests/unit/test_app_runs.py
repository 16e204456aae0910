"""The application layer's run calls (otorchestrator/app/runs.py) with the fake backend: what the CLI and
the demo share, called directly (no click)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_backend import FakeBackend, fake_hosts, make_plan, write_inventory

from otorchestrator.app import AppError, runs
from otorchestrator.app import artifacts as app_artifacts
from otorchestrator.app.aborts import abort_flag, abort_poll, run_dir
from otorchestrator.app.run_request import RunRequest
from otorchestrator.app.session import Caller
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.results import Phase
from otorchestrator.models.run import RunStatus
from otorchestrator.store.audit import read_events
from otorchestrator.store.clock import FakeClock, SystemClock
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    plan = make_plan([["a"], ["b", "gw"]], budget=1)
    waves = tmp_path / "waves.json"
    waves.write_text(plan.model_dump_json())
    inventory = write_inventory(plan, tmp_path / "inventory")
    backend = FakeBackend(fake_hosts(plan), FakeClock(SystemClock().now()), {("gw", Phase.INSTALL): "break"})
    backend.seconds_per_phase = 0
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setattr(app_artifacts, "default_artifact_dirs", lambda catalog, inventory: [repo])
    monkeypatch.setattr(
        app_artifacts, "artifact_digests", lambda patches, dirs: {p.id: p.sha256 for p in patches}
    )
    state = tmp_path / "state"
    return {"waves": waves, "inv": inventory, "state": state, "backend": backend, "paths": StatePaths(state)}


def _caller(lab: dict[str, Any], **kw: Any) -> Caller:
    return Caller(state_dir=lab["state"], backend=lambda paths: lab["backend"], **kw)


def test_start_run_copies_the_wave_plan_and_runs_every_wave(lab: dict[str, Any]) -> None:
    outcome = runs.start_run(lab["waves"], RunRequest(operator="alice", inventory=lab["inv"]), _caller(lab))
    assert outcome.exit_code is ExitCode.HOSTS_FAILED
    assert {h.host: h.state.value for h in outcome.summary.hosts} == {
        "a": "succeeded", "b": "succeeded", "gw": "rolled_back",
    }  # fmt: skip
    copy = run_dir(lab["paths"], outcome.run_id) / "waveplan.json"
    assert copy.read_bytes() == lab["waves"].read_bytes()
    assert outcome.summary.run.waveplan_path == str(copy)
    assert outcome.evidence["trust"].startswith("no trust file")  # the authority ran and said what it saw


def test_the_wave_plans_inventory_is_the_default_and_a_missing_one_is_a_usage_error(
    lab: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(AppError) as refused:
        runs.start_run(lab["waves"], RunRequest(operator="alice"), _caller(lab))
    assert refused.value.usage and refused.value.code is ExitCode.USAGE
    assert "no inventory" in str(refused.value) and lab["backend"].calls == []


def test_a_declined_wave_halts_and_resume_goes_on(lab: dict[str, Any]) -> None:
    asked: list[int] = []

    def decline(wave: Any) -> bool:
        asked.append(wave.index)
        return False

    request = RunRequest(operator="alice", inventory=lab["inv"])
    halted = runs.start_run(lab["waves"], request, _caller(lab, confirm=decline))
    assert halted.exit_code is ExitCode.HALTED and asked == [1]
    resumed = runs.resume(halted.run_id, request, _caller(lab))
    assert resumed.exit_code is ExitCode.HOSTS_FAILED
    assert resumed.summary.counts == {"rolled_back": 1, "succeeded": 2}


def test_artifact_hashes_without_a_location_refuse_unless_turned_off(
    lab: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_artifacts, "default_artifact_dirs", lambda catalog, inventory: [])
    request = RunRequest(operator="alice", inventory=lab["inv"])
    with pytest.raises(AppError) as refused:
        runs.start_run(lab["waves"], request, _caller(lab))
    assert refused.value.code is ExitCode.REFUSED and "no artifact location" in str(refused.value)
    assert lab["backend"].calls == []
    off = RunRequest(operator="alice", inventory=lab["inv"], no_artifact_check=True)
    outcome = runs.start_run(lab["waves"], off, _caller(lab))
    trail = [e for _, e in read_events(lab["paths"].audit) if e.run_id == outcome.run_id]
    assert [e.result for e in trail if e.kind == "safety_override"] == ["artifact_check_skipped"]


def test_abort_of_a_live_run_writes_the_flag_the_run_polls_and_resume_clears_it(lab: dict[str, Any]) -> None:
    request = RunRequest(operator="alice", inventory=lab["inv"])
    halted = runs.start_run(lab["waves"], request, _caller(lab, confirm=lambda wave: False))
    rid = halted.run_id
    with StateStore(lab["paths"].db) as store, store.lock(rid, "alice", SystemClock().now()):
        asked = runs.abort(rid, "bob", _caller(lab))  # the lock is held: the run counts as live
    assert asked.result.requested and asked.exit_code is ExitCode.OK
    assert abort_flag(lab["paths"], rid).read_text() == "bob\n" and abort_poll(lab["paths"], rid)()
    resumed = runs.resume(rid, request, _caller(lab))
    assert not abort_flag(lab["paths"], rid).exists() and resumed.exit_code is ExitCode.HOSTS_FAILED


def test_abort_of_a_run_that_is_not_live_marks_it_aborted(lab: dict[str, Any]) -> None:
    request = RunRequest(operator="alice", inventory=lab["inv"])
    halted = runs.start_run(lab["waves"], request, _caller(lab, confirm=lambda wave: False))
    done = runs.abort(halted.run_id, "bob", _caller(lab))
    assert not done.result.requested and done.exit_code is ExitCode.OK
    assert runs.status(lab["state"], halted.run_id).summary.run.status is RunStatus.ABORTED
    with pytest.raises(AppError) as missing:
        runs.abort("run-nope", "bob", _caller(lab))
    assert missing.value.code is ExitCode.USAGE


def test_rollback_not_confirmed_is_refused_and_touches_nothing(lab: dict[str, Any]) -> None:
    outcome = runs.start_run(lab["waves"], RunRequest(operator="alice", inventory=lab["inv"]), _caller(lab))
    calls = len(lab["backend"].calls)
    with pytest.raises(AppError) as refused:
        runs.rollback(outcome.run_id, ["a"], "bob", _caller(lab), confirm=lambda question: False)
    assert refused.value.code is ExitCode.REFUSED and len(lab["backend"].calls) == calls
    done = runs.rollback(outcome.run_id, ["a"], "bob", _caller(lab), confirm=lambda question: True)
    assert done.exit_code is ExitCode.OK and lab["backend"].hosts["a"].versions == {"pkg-a": "1.0.0"}


def test_status_needs_a_store_and_names_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(AppError) as missing:
        runs.status(tmp_path / "nowhere")
    assert missing.value.code is ExitCode.NO_STATE and "no state store at" in str(missing.value)
    assert not (tmp_path / "nowhere").exists()


def test_status_of_an_unknown_run_id_is_a_usage_error(tmp_path: Path) -> None:
    state = tmp_path / "st"
    state.mkdir()
    with StateStore(state / "state.db"):
        pass
    with pytest.raises(AppError) as unknown:
        runs.status(state, "run-nope")
    assert unknown.value.code is ExitCode.USAGE and "run-nope" in str(unknown.value)


def test_a_lock_held_by_another_run_is_refused(lab: dict[str, Any]) -> None:
    lab["state"].mkdir()
    request = RunRequest(operator="alice", inventory=lab["inv"])
    with (
        StateStore(lab["paths"].db) as store,
        store.lock("run-x", "dave", SystemClock().now()),
        pytest.raises(AppError) as refused,
    ):
        runs.start_run(lab["waves"], request, _caller(lab))
    assert refused.value.code is ExitCode.REFUSED and "operator dave, run run-x" in str(refused.value)


def test_resume_of_a_drill_id_names_otorch_drill_resume(lab: dict[str, Any]) -> None:
    from otorchestrator.app.drills import DRILL_PLAN_PREFIX
    from otorchestrator.models.run import RunRecord as Record

    paths = StatePaths(lab["state"]).ensure()
    with StateStore(paths.db) as store:
        store.create_run(
            Record(
                run_id="drill-1",
                operator="alice",
                waveplan_hash="sha256:" + "d" * 64,
                plan_hash=f"{DRILL_PLAN_PREFIX}P-a",
                started_at=SystemClock().now(),
                inventory_path=str(lab["inv"]),
            )
        )
    with pytest.raises(AppError) as refused:
        runs.resume("drill-1", RunRequest(operator="alice"), _caller(lab))
    assert refused.value.code is ExitCode.REFUSED
    assert "otorch drill --drill-id drill-1 --resume --patch P-a" in str(refused.value)
    assert "wave plan copy is missing" not in str(refused.value)
