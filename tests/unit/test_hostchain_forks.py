"""What `forks` bounds in a wave (execution/hostchain.py): the hosts inside a backend job at once, a job of k
hosts taking k forks for its duration; when forks free up, hosts already admitted go on before a host not
started yet."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fake_backend import make_plan
from test_hosts_flow import CHAIN, Flow, _zoned, states

from otorchestrator.models.results import Phase
from otorchestrator.models.run import HostState

S = HostState
NAMES = [f"h{i:02d}" for i in range(1, 25)]  # 24 hosts, wave order h01..h24


class InJobs:
    """Counts the hosts inside backend calls (jobs) at once, and the order calls started and ended in."""

    def __init__(self, flow: Flow, hold_s: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.log: list[tuple[str, Phase, tuple[str, ...]]] = []  # ("start" | "end", phase, hosts)
        real = flow.backend.run_phase

        def run_phase(request: Any, on_event: Any = None, cancel: Any = None) -> Any:
            with self.lock:
                self.now += len(request.hosts)
                self.most = max(self.most, self.now)
                self.log.append(("start", request.phase, request.hosts))
            try:
                time.sleep(hold_s)  # let jobs that the engine runs at once overlap for real
                return real(request, on_event, cancel)
            finally:
                with self.lock:
                    self.now -= len(request.hosts)
                    self.log.append(("end", request.phase, request.hosts))

        flow.backend.run_phase = run_phase  # type: ignore[method-assign]

    def first(self, what: str, phase: Phase, host: str) -> int:
        return next(i for i, (w, p, on) in enumerate(self.log) if (w, p) == (what, phase) and host in on)

    def chain_ends(self) -> Iterator[int]:
        return (i for i, (w, p, _) in enumerate(self.log) if (w, p) == ("end", Phase.VERIFY))


def test_24_hosts_forks_20_never_more_than_20_inside_jobs(tmp_path: Path) -> None:
    f = Flow(tmp_path, make_plan([NAMES]))
    seen = InJobs(f, hold_s=0.01)
    summary = f.run(forks=20)
    assert states(summary) == dict.fromkeys(NAMES, S.SUCCEEDED)
    assert seen.most == 20
    assert seen.now == 0
    assert all(len(hosts) <= 20 for _, _, hosts in seen.log)


def test_24_hosts_forks_20_admitted_hosts_go_on_before_hosts_21_to_24_start(tmp_path: Path) -> None:
    """Each of h01-h20's jobs frees its 20 forks in one pass, and h01-h20, ready for their next phase, take
    them before a host not started yet: h21-h24 start when h01-h20's verify ended (their chains), in one
    job, and go through their chain in jobs of 4."""
    f = Flow(tmp_path, make_plan([NAMES]))
    seen = InJobs(f)
    summary = f.run(forks=20)
    assert states(summary) == dict.fromkeys(NAMES, S.SUCCEEDED)
    first, rest = tuple(NAMES[:20]), tuple(NAMES[20:])
    assert [(c.phase, c.hosts) for c in f.backend.calls] == [
        *((p, first) for p in CHAIN),
        *((p, rest) for p in CHAIN),
    ]
    assert seen.first("start", Phase.DIAGNOSTICS, "h21") > min(seen.chain_ends())


def test_a_freed_fork_goes_to_a_verify_ready_host_before_a_host_not_started(tmp_path: Path) -> None:
    """forks 2, jobs of one zone each: a (zone za) and b (zone zb) take the forks; c (za) waits. Whenever a's
    or b's job ends, that host goes on (backup, install, then verify) before c gets a fork: c's diagnostics
    start only after one of a's and b's verify ended."""
    plan = _zoned(make_plan([["a", "b", "c"]]), {"a": "za", "b": "zb", "c": "za"})
    f = Flow(tmp_path, plan)
    f.backend.one_zone_per_job = True  # type: ignore[attr-defined]
    seen = InJobs(f, hold_s=0.01)
    summary = f.run(forks=2)
    assert states(summary) == dict.fromkeys("abc", S.SUCCEEDED)
    assert seen.most <= 2
    verified = min(seen.first("end", Phase.VERIFY, "a"), seen.first("end", Phase.VERIFY, "b"))
    assert seen.first("start", Phase.DIAGNOSTICS, "c") > verified
