"""The node-side sweep (nodes/jobdirs.py), run here with the same shell tools the node has: this run's stale
job directories and their processes ended, other runs' idle ones removed, a live job of another run kept."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from fake_backend import fake_inventory

from otorchestrator.execution.backend import PhaseRequest
from otorchestrator.models.results import Phase
from otorchestrator.nodes import backend as nodes_backend
from otorchestrator.nodes import ssh
from otorchestrator.nodes.config import Node, NodesConfig
from otorchestrator.nodes.jobdirs import LiveJobs, job_dir, sweep_command


def _holder(path: str) -> subprocess.Popen[bytes]:
    """A process whose command line names a job directory, as a worker's does."""
    return subprocess.Popen(["sh", "-c", "sleep 60", f"--private-data-dir={path}"])


def test_sweep_ends_this_runs_jobs_and_removes_idle_ones_of_others(tmp_path: Path) -> None:
    work = str(tmp_path)
    mine = job_dir(work, "run-20261203-070000-ab12", "t1")
    other_live = job_dir(work, "run-20261203-060000-cd34", "t2")
    other_idle = job_dir(work, "run-20261202-050000-ef56", "t3")
    for d in (mine, other_live, other_idle):
        Path(d).mkdir()
    (tmp_path / "unrelated").mkdir()
    crashed, live = _holder(mine), _holder(other_live)
    try:
        time.sleep(0.2)  # both are running
        out = subprocess.run(
            ["bash", "-c", sweep_command(work, "run-20261203-070000-ab12")],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert crashed.wait(timeout=10) == -9  # the crashed run's leftover worker: killed
        assert live.poll() is None  # another run's live job: untouched
        assert sorted(p.name for p in tmp_path.iterdir()) == [Path(other_live).name, "unrelated"]
        assert out.stdout.strip() == "swept 1 left"
    finally:
        for p in (crashed, live):
            p.kill()
            p.wait()


def test_a_missing_work_dir_is_nothing_to_sweep(tmp_path: Path) -> None:
    proc = subprocess.run(["bash", "-c", sweep_command(str(tmp_path / "absent"), "r")], timeout=30)
    assert proc.returncode == 0
    assert job_dir("/dev/shm/", "run 1;rm", "tok") == "/dev/shm/otorch-run_1_rm-tok"


def test_the_sweep_keeps_this_processs_jobs_in_flight(tmp_path: Path) -> None:
    """Two hosts of one zone admitted at different times (forks < hosts) run two jobs of the same run on
    the node at once: the sweep before the second job keeps the first (named in `keep`), and still ends a
    leftover of the same run that no job of this process holds."""
    work, run = str(tmp_path), "run-20261203-070000-ab12"
    first, second, leftover = (job_dir(work, run, t) for t in ("t1", "t2", "t3"))
    for d in (first, leftover):
        Path(d).mkdir()
    running, stale = _holder(first), _holder(leftover)
    try:
        time.sleep(0.2)
        subprocess.run(
            ["bash", "-c", sweep_command(work, run, keep=[first, second])],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert stale.wait(timeout=10) == -9
        assert running.poll() is None and Path(first).is_dir()
        assert sorted(p.name for p in tmp_path.iterdir()) == [Path(first).name]
    finally:
        for p in (running, stale):
            p.kill()
            p.wait()


def test_live_jobs_hold_a_job_dir_while_its_job_runs() -> None:
    live = LiveJobs()
    with live.holding("/dev/shm/otorch-r-a") as during_a:
        assert during_a == ["/dev/shm/otorch-r-a"]
        with live.holding("/dev/shm/otorch-r-b") as during_b:
            assert during_b == ["/dev/shm/otorch-r-a", "/dev/shm/otorch-r-b"]
    with live.holding("/dev/shm/otorch-r-c") as after:
        assert after == ["/dev/shm/otorch-r-c"]


def test_a_node_jobs_sweep_spares_this_runs_job_in_flight_on_that_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NodesBackend._job sweeps the node with its other jobs in flight kept: the sweep it sends, run here
    against a work dir holding a live job of the same run, leaves that job running."""
    work = tmp_path / "work"
    work.mkdir()
    node = Node(name="node-a", host="127.0.0.1", key=Path("k"), host_key="ssh-ed25519 AAAA", zones=("z",),
                work_dir=str(work))  # fmt: skip
    sent: list[str] = []

    def sweep_only(config: object, node: object, remote: str, **_: object) -> None:
        sent.append(remote)
        raise ssh.NodeUnreachable("the test ends the job after its sweep")

    monkeypatch.setattr(ssh, "run", sweep_only)
    backend = nodes_backend.NodesBackend(tmp_path / "state")
    run = "run-20261203-131605-4927"
    first = job_dir(str(work), run, "a1")
    Path(first).mkdir()
    request = PhaseRequest(phase=Phase.DIAGNOSTICS, hosts=("h",), inventory=fake_inventory(["h"]), run_id=run)
    running = _holder(first)
    try:
        with backend._live.holding(first):  # the first job of the zone, still running on the node
            outcome = backend._job(NodesConfig(nodes=(node,)), node, ["h"], request, lambda e: None, None)
        assert outcome.results["h"].outcome == "unreachable"
        time.sleep(0.2)
        subprocess.run(["bash", "-c", sent[0]], capture_output=True, timeout=30, check=True)
        assert running.poll() is None and Path(first).is_dir()
    finally:
        running.kill()
        running.wait()
