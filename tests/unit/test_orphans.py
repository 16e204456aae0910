"""Orphans of a crashed run (processes whose environment carries its OTORCH_RUN_ID) are ended (grace,
SIGTERM, SIGKILL), not waited on: real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otorchestrator.execution.orphans import RUN_ID_ENV, end_orphans, orphan_grace_s, run_processes

Spawn = Callable[..., "subprocess.Popen[str]"]

# a child that ignores SIGHUP (as ansible-playbook does when its parent dies) and optionally SIGTERM
_CHILD = """
import signal, sys, time
signal.signal(signal.SIGHUP, signal.SIG_IGN)
if sys.argv[2] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(float(sys.argv[3]))
"""


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    procs: list[subprocess.Popen[str]] = []

    def start(marker: str, mode: str = "plain", sleep_s: float = 120.0) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, "-", mode, str(sleep_s)],
            stdout=subprocess.PIPE,
            env={**os.environ, RUN_ID_ENV: marker},
            text=True,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _marker() -> str:
    return f"run-test-{uuid.uuid4().hex}"


def test_nothing_to_end_returns_at_once() -> None:
    assert end_orphans(_marker(), grace_s=5) == []


def test_an_orphan_that_finishes_within_the_grace_is_not_signalled(spawn: Spawn) -> None:
    marker = _marker()
    proc = spawn(marker, "plain", 0.5)
    steps: list[str] = []
    assert end_orphans(marker, grace_s=10, poll_s=0.1, notify=lambda s, _p: steps.append(s)) == []
    assert proc.wait(timeout=5) == 0  # exited by itself, not by a signal
    assert steps == ["waiting"]


def test_an_orphan_is_terminated_after_the_grace(spawn: Spawn) -> None:
    marker = _marker()
    proc = spawn(marker)
    assert run_processes(marker) == [proc.pid]
    steps: list[str] = []
    left = end_orphans(marker, grace_s=0.3, term_s=5, poll_s=0.1, notify=lambda s, _p: steps.append(s))
    assert left == []
    assert proc.wait(timeout=5) == -15  # SIGTERM
    assert steps == ["waiting", "terminating"]


def test_an_orphan_ignoring_sigterm_is_killed(spawn: Spawn) -> None:
    marker = _marker()
    proc = spawn(marker, "stubborn")
    steps: list[str] = []
    left = end_orphans(marker, grace_s=0.2, term_s=0.5, poll_s=0.1, notify=lambda s, _p: steps.append(s))
    assert left == []
    assert proc.wait(timeout=5) == -9  # SIGKILL
    assert steps == ["waiting", "terminating", "killing"]


def test_other_processes_are_left_alone(spawn: Spawn) -> None:
    mine, other = _marker(), _marker()
    proc = spawn(other)
    assert end_orphans(mine, grace_s=0.1) == []
    assert proc.poll() is None


def test_grace_from_the_environment() -> None:
    assert orphan_grace_s({}) == 30.0
    assert orphan_grace_s({"OTORCH_ORPHAN_GRACE_S": "2.5"}) == 2.5
    with pytest.raises(ValueError, match="OTORCH_ORPHAN_GRACE_S"):
        orphan_grace_s({"OTORCH_ORPHAN_GRACE_S": "soon"})
    with pytest.raises(ValueError, match=">= 0"):
        orphan_grace_s({"OTORCH_ORPHAN_GRACE_S": "-1"})


def _proc_with(tmp_path: Path, pid: int, cmdline: bytes) -> Path:
    proc = tmp_path / "proc"
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "cmdline").write_bytes(cmdline)
    return proc


def test_a_kept_ssh_master_of_the_run_is_told_from_other_processes(tmp_path: Path) -> None:
    """The job sweep spares the run's ControlPersist masters (title `ssh: <socket> [mux]`) and only those."""
    from otorchestrator.execution.ansible import is_master_of

    cp = tmp_path / "otcp-abc"
    master = _proc_with(tmp_path, 10, f"ssh: {cp}/4f1e2d [mux]".encode() + b"\0" * 8)
    assert is_master_of(10, cp, master)
    assert not is_master_of(10, tmp_path / "otcp-other", master)  # another run's master
    client = _proc_with(tmp_path / "c", 11, b"ssh\0-o\0ControlPath=" + str(cp).encode() + b"/4f1e2d\0host\0")
    assert not is_master_of(11, cp, client)  # a client still running a command is swept
    playbook = _proc_with(tmp_path / "p", 12, f"ansible-playbook ssh: {cp}/x [mux]".encode())
    assert not is_master_of(12, cp, playbook)
    assert not is_master_of(13, cp, master)  # gone
