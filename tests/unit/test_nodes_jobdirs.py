"""The node-side sweep (nodes/jobdirs.py), run here with the same shell tools the node has: this run's stale
job directories and their processes ended, other runs' idle ones removed, a live job of another run kept."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from otorchestrator.nodes.jobdirs import job_dir, sweep_command


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
