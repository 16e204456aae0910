"""A run's jobs share its ssh connections (ControlPersist masters in the run's ControlPath dir): a host is
connected once per run, not once per phase; the masters end with the backend (`close()`, also at exit); a job
outside a run (run_id "") closes its own after it. Real ansible-runner jobs against a lab host."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from _roles_helpers import patch_entry

from otorchestrator.execution.ansible import AnsibleRunnerBackend
from otorchestrator.execution.backend import PhaseRequest, RunStatus
from otorchestrator.execution.inventory import phase_inventory
from otorchestrator.lab.handle import LabHandle
from otorchestrator.models.results import Phase

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOST = "nw-hmi-02"


def masters_in(cp_dir: Path) -> dict[str, int]:
    """{socket: pid} of the ssh masters serving sockets in `cp_dir` (their title: `ssh: <socket> [mux]`)."""
    found = subprocess.run(["pgrep", "-fa", r"^ssh: .*\[mux\]"], capture_output=True, text=True).stdout
    out: dict[str, int] = {}
    for line in found.splitlines():
        pid, _, sock = line.split()[:3]
        if Path(sock).parent == cp_dir:
            out[sock] = int(pid)
    return out


def diagnostics(lab: LabHandle, run_id: str) -> PhaseRequest:
    hosts = {HOST: [patch_entry(lab, "nwc-hmi-runtime")]}
    return PhaseRequest(
        phase=Phase.DIAGNOSTICS,
        hosts=(HOST,),
        inventory=phase_inventory(lab.inventory / "hosts.yml", (HOST,)),
        extravars={"otorch_patches": hosts},
        run_label="itest-conn",
        run_id=run_id,
        timeout_s=300,
        task_timeout_s=120,
    )


def test_the_jobs_of_a_run_share_one_connection_per_host_until_close(lab: LabHandle, tmp_path: Path) -> None:
    backend = AnsibleRunnerBackend(tmp_path / "state", extra_env=lab.runner_envvars())
    try:
        first = backend.run_phase(diagnostics(lab, "run-conn-1"))
        assert first.status == RunStatus.SUCCESSFUL, first.results
        cp_dir = backend._control_dirs["run-conn-1"]
        kept = masters_in(cp_dir)
        assert len(kept) == 1, f"one master for {HOST} after the first job: {kept}"
        second = backend.run_phase(diagnostics(lab, "run-conn-1"))
        assert second.status == RunStatus.SUCCESSFUL, second.results
        assert masters_in(cp_dir) == kept  # the same master (same pid): no new connection

        other = backend.run_phase(diagnostics(lab, "run-conn-2"))  # another run: its own connection
        assert other.status == RunStatus.SUCCESSFUL
        assert backend._control_dirs["run-conn-2"] != cp_dir and masters_in(cp_dir) == kept
    finally:
        backend.close()
    assert masters_in(cp_dir) == {} and not cp_dir.exists()


def test_a_job_outside_a_run_closes_its_connection(lab: LabHandle, tmp_path: Path) -> None:
    backend = AnsibleRunnerBackend(tmp_path / "state", extra_env=lab.runner_envvars())
    before = subprocess.run(["pgrep", "-fa", r"^ssh: .*otcp-.*\[mux\]"], capture_output=True, text=True)
    out = backend.run_phase(diagnostics(lab, ""))
    assert out.status == RunStatus.SUCCESSFUL
    after = subprocess.run(["pgrep", "-fa", r"^ssh: .*otcp-.*\[mux\]"], capture_output=True, text=True)
    assert set(after.stdout.splitlines()) <= set(before.stdout.splitlines())
    assert backend._control_dirs == {}
