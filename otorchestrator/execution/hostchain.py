"""Hosts flow: within a wave each host moves to its next phase as soon as its own previous phase passed.

Every host has its own chain (diagnostics -> backup -> install -> verify [-> rollback]), run as backend jobs
on a pool of `forks` workers. Hosts ready for the same phase at the same moment (the admitted hosts' first
diagnostics; hosts whose jobs ended in the same pass and go on to the same phase) go as one job of several
hosts (a micro-batch: one ansible-playbook start instead of one per host).

`forks` bounds the hosts inside a backend job at once: a job of k hosts takes k forks for its duration, a
host between two of its phases holds none. When jobs end, their forks go first to the hosts of those jobs
that go on (to rollback, verify, install or backup: in the same pass, so they never need more forks than
their own jobs freed), and only the forks left to hosts not started yet: a host starts on a fork freed by
a chain that ended (or never taken). A host that passed a phase therefore never waits for a fork, and
hosts that go in step (one job per phase) keep their forks from diagnostics to verify: with forks 20, a
wave's hosts 21-24 start when hosts 1-20 ended their chains.

A backend that runs each zone's share of a job apart and returns when every zone is done (the nodes
backend: `one_zone_per_job = True`) gets jobs of one zone each, so a slow zone never holds another.
A host moves on as soon as its own job ended; a host in another job never waits for it. The engine itself
stays on one thread (this one): it writes every host's transition of a job (store, then audit) before it
hands the job to a worker, it records results and task events as they come back, and it decides the next
steps. Workers only run the backend call, so the Recorder, the StateStore and the audit chain are never
written from two threads. Each host's phase time is its own: from its first to its last task event in the
job (execution/phasejob.py's `EventTimes`), not the job's.

Bounded by `forks` (hosts inside a job at once), the failure budget and the operator's abort (checked
for each host before it starts, before its backup and before its install, once every host of the ended
jobs is settled: once spent, no host starts a new install; hosts mid-step finish that step and are settled;
installed hosts verify and roll back), the window (re-checked for each host just before its install) and
`waits_for` (a host starts when the hosts it waits for succeeded). `forks == 1` runs each job on this
thread: one host at a time, in a fixed order (the unit tests' crash sweep relies on it).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from otorchestrator.execution.backend import PhaseOutcome, TaskEvent
from otorchestrator.execution.budget import Budget
from otorchestrator.execution.phasejob import EventTimes, JobSpec, Prepared
from otorchestrator.execution.safety import check_window
from otorchestrator.execution.verdicts import good
from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import HostState
from otorchestrator.models.waves import Wave, WaveHost

if TYPE_CHECKING:
    from otorchestrator.execution.waverunner import WaveRunner

_S = HostState
_EVENT_POLL_S = 0.2  # how often task events of running jobs are recorded while waiting


@dataclass(frozen=True)
class Step:
    """One host's next phase, decided; its transition is written when its job is built."""

    name: str
    phase: Phase
    entering: HostState | None
    move_args: Mapping[str, Any] | None = None
    backup_id: str | None = None  # rollback: the backup to restore


@dataclass(frozen=True)
class Job:
    """One phase of one or more hosts, every host's transition already written."""

    hosts: tuple[str, ...]
    phase: Phase
    prepared: Prepared


Ran = tuple[PhaseOutcome | None, str]  # the backend's outcome, or None and the error it raised


class HostFlow:
    """The hosts of one wave, each through its own chain."""

    def __init__(self, runner: WaveRunner, wave: Wave, budget: Budget, forks: int) -> None:
        self.runner = runner
        self.rec = runner.rec
        self.jobs = runner.jobs
        self.wave = wave
        self.budget = budget
        self.forks = max(1, forks)
        self.members = [h for h in wave.hosts if h.name in self.rec.hosts]
        self._order = {h.name: i for i, h in enumerate(self.members)}
        self._events: queue.SimpleQueue[tuple[TaskEvent, datetime]] = queue.SimpleQueue()
        self._engine_thread = threading.get_ident()
        self._handler = self.rec.task_handler(wave.index)
        self._times = EventTimes()
        self._zone = {h.name: h.zone for h in self.members}
        self._by_zone = bool(getattr(runner.backend, "one_zone_per_job", False))
        self._running: dict[Future[Ran], Job] = {}
        # check mode changed nothing: a failure there is reported, never rolled back (no real backup)
        self.undo, self.note = (
            (_S.FAILED, "check mode, nothing to roll back: ")
            if runner.options.check_mode
            else (_S.ROLLING_BACK, "")
        )

    # -- the loop -----------------------------------------------------------------------------------

    def run(self) -> None:
        with self._pool() as submit:
            while True:
                self._start_hosts(submit)
                if not self._running:
                    break
                self._next(submit)
        still = [h.name for h in self.members if self.rec.state(h.name) is _S.PENDING]
        if still:  # nothing runs, so nothing they wait for can still succeed
            self.runner._skip_pending(still, "waits for hosts that cannot finish first (dependency order)")

    @contextmanager
    def _pool(self) -> Iterator[Callable[[Job], None]]:
        if self.forks == 1:
            yield self._inline
            return
        with ThreadPoolExecutor(max_workers=self.forks, thread_name_prefix="otorch-host") as pool:

            def submit(job: Job) -> None:
                self._running[pool.submit(self._call, job)] = job

            yield submit

    def _inline(self, job: Job) -> None:
        done: Future[Ran] = Future()
        done.set_result(self._call(job))  # a crash (BaseException) goes straight up, as kill -9 would
        self._running[done] = job

    def _call(self, job: Job) -> Ran:
        """On a worker: the backend call only."""
        request, cancel = job.prepared.request, job.prepared.cancel
        if isinstance(request, str):
            return None, request
        try:
            return self.runner.backend.run_phase(request, on_event=self._on_event, cancel=cancel), ""
        except Exception as exc:  # the backend broke: its hosts get failed results, the run goes on
            return None, f"backend error: {type(exc).__name__}: {exc}"

    def _on_event(self, event: TaskEvent) -> None:
        at = self.rec.now()  # when it arrived, not when the engine thread gets to it
        if threading.get_ident() == self._engine_thread:
            self._record(event, at)
        else:
            self._events.put((event, at))  # recorded by the engine thread

    def _record(self, event: TaskEvent, at: datetime) -> None:
        self._times.saw(event.host, at)
        self._handler(event)

    def _drain(self) -> None:
        while True:
            try:
                event, at = self._events.get_nowait()
            except queue.Empty:
                return
            self._record(event, at)

    def _next(self, submit: Callable[[Job], None]) -> None:
        """Wait for jobs to end (recording task events meanwhile), settle every host of the ended jobs, then
        take each host that goes on a step further, hosts bound for the same phase in one job."""
        while True:
            done, _ = wait(list(self._running), timeout=_EVENT_POLL_S, return_when=FIRST_COMPLETED)
            self._drain()
            if done:
                break
        ended: list[tuple[Phase, str, PhaseResult]] = []
        for future in sorted(done, key=lambda f: self._order[self._running[f].hosts[0]]):
            job = self._running.pop(future)
            outcome, error = future.result()  # re-raises a crash of the worker
            started = job.prepared.started
            results = self.jobs.collect(self.wave, job.phase, job.hosts, outcome, error, started, self._times)
            ended += [(job.phase, n, results[n]) for n in job.hosts]
        going = [(phase, n, r) for phase, n, r in ended if self._settle(phase, n, r)]
        # every ended host is settled before any goes on: the budget checks below count all of them
        steps = [s for phase, n, r in going if (s := self._step(phase, n, r)) is not None]
        for batch in self._batches(steps):
            submit(self._job(batch))

    def _batches(self, steps: Sequence[Step]) -> list[list[Step]]:
        """Steps of one phase in one job; the rollback playbook takes one backup id per job; one zone per
        job for a backend that waits for all zones of a job."""
        batches: dict[tuple[Phase, str | None, str], list[Step]] = {}
        for step in steps:
            zone = self._zone[step.name] if self._by_zone else ""
            batches.setdefault((step.phase, step.backup_id, zone), []).append(step)
        return list(batches.values())

    # -- starting hosts -----------------------------------------------------------------------------

    def _busy(self) -> int:
        return sum(len(job.hosts) for job in self._running.values())

    def _start_hosts(self, submit: Callable[[Job], None]) -> None:
        """Start pending hosts whose dependencies succeeded, as many as forks are free once the hosts that
        go on took theirs (`_next`, in the same pass), in one job."""
        pending = [h for h in self.members if self.rec.state(h.name) is _S.PENDING]
        free = self.forks - self._busy()
        if not pending or free <= 0:
            return
        stop = self.runner._stop(self.wave, self.budget)
        if stop is not None:
            self.runner._skip_pending([h.name for h in pending], self.runner._stop_prefix() + stop)
            return
        ready: list[WaveHost] = []
        for host in pending:
            verdict = self.runner._dependencies(host)
            if verdict == "ready":
                ready.append(host)
            elif verdict != "wait":
                self.rec.move(host.name, _S.SKIPPED, verdict)
        if not ready:
            return
        authority = self.runner.options.authority
        if authority is not None:  # the sources as they are now, before admitting hosts
            authority.refresh(self.rec.operator, self.rec.now())
        admitted: list[Step] = []
        while ready and len(admitted) < free:  # a host refused at admission leaves its fork to the next
            picked = self._fair(ready, free - len(admitted), [step.name for step in admitted])
            for host in picked:
                ready.remove(host)
                if self.runner._admit(host):
                    admitted.append(Step(host.name, Phase.DIAGNOSTICS, _S.DIAGNOSING))
        for batch in self._batches(admitted):
            submit(self._job(batch))

    def _fair(self, ready: Sequence[WaveHost], free: int, starting: Sequence[str]) -> list[WaveHost]:
        """The ready hosts to admit into `free` forks (`starting`: admitted, not yet submitted). A host
        that goes on takes its next phase's fork before a host starts, so it keeps a fork through its whole
        chain; for a backend whose zones run apart (`one_zone_per_job`) a zone may hold at most its share
        of the forks (forks // zones with hosts running or ready) while
        another zone has a ready host: a slow zone's hosts, first in the wave, do not take every fork from
        the other zones; forks still free after the shares go round robin to any zone. Other backends:
        wave order."""
        if not self._by_zone:
            return list(ready[:free])
        held: dict[str, int] = {}
        for name in [*(n for job in self._running.values() for n in job.hosts), *starting]:
            held[self._zone[name]] = held.get(self._zone[name], 0) + 1
        lanes: dict[str, list[WaveHost]] = {}
        for host in ready:
            lanes.setdefault(self._zone[host.name], []).append(host)
        share = max(1, self.forks // len(set(held) | set(lanes)))
        chosen: list[WaveHost] = []
        for capped in (True, False):  # round robin within the shares, then the forks still free
            while len(chosen) < free:
                took = [
                    zone
                    for zone, waiting in lanes.items()
                    if waiting and (not capped or held.get(zone, 0) < share)
                ][: free - len(chosen)]
                if not took:
                    break
                for zone in took:
                    chosen.append(lanes[zone].pop(0))
                    held[zone] = held.get(zone, 0) + 1
        return sorted(chosen, key=lambda h: self._order[h.name])

    def _job(self, steps: Sequence[Step]) -> Job:
        """Write the transition of every host of `steps` (one phase), then build their one job."""
        phase = steps[0].phase
        names = [s.name for s in steps]
        extra: dict[str, Any] | None = None
        backup_ids: dict[str, str | None] | None = None
        if phase is Phase.BACKUP:  # one backup id per backup job
            extra = {"otorch_backup_id": f"{self.rec.run_id}-w{self.wave.index}-{self.rec.now():%H%M%S%f}"}
        if phase is Phase.ROLLBACK:
            backup_id = steps[0].backup_id
            extra = {"otorch_backup_id": backup_id} if backup_id else None
            backup_ids = {n: backup_id for n in names}
        move_args = {s.name: s.move_args for s in steps if s.move_args}
        spec = JobSpec(phase, tuple(names), steps[0].entering, move_args or None, backup_ids, extra)
        prepared = self.jobs.prepare(self.wave, spec)
        self._times.forget(names)
        return Job(spec.names, phase, prepared)

    # -- one host's next step -----------------------------------------------------------------------

    def _settle(self, phase: Phase, name: str, result: PhaseResult) -> bool:
        """Record where `name` stands after `phase`: False when its chain ended here."""
        runner = self.runner
        if phase is Phase.DIAGNOSTICS:
            return runner._settle(name, result, _S.BLOCKED, "diagnostics failed")
        if phase is Phase.BACKUP:
            if good(result) and not result.backup_id:
                self.rec.move(name, _S.FAILED, "backup reported no backup id: nothing installed")
                return False
            return runner._settle(name, result, _S.FAILED, "backup failed, nothing installed")
        if phase is Phase.INSTALL:
            ok = runner._settle(name, result, self.undo, self.note + "install failed")
            return ok or self.rec.state(name) is _S.ROLLING_BACK
        if phase is Phase.VERIFY:
            if good(result):
                runner.succeed(self.wave, name, result)
                return False
            runner._settle(name, result, self.undo, self.note + "verify failed")
            return self.rec.state(name) is _S.ROLLING_BACK
        runner.settle_rollback(self.wave, name, result)
        return False

    def _step(self, phase: Phase, name: str, result: PhaseResult) -> Step | None:
        """The next phase of a settled host that goes on, or None when the budget, an abort, its window
        or the artifact re-check stops it (moved to skipped with the reason)."""
        if self.rec.state(name) is _S.ROLLING_BACK:
            return Step(name, Phase.ROLLBACK, None, backup_id=self.rec.hosts[name].backup_id)
        if phase is Phase.DIAGNOSTICS:
            return Step(name, Phase.BACKUP, _S.BACKING_UP) if self._go_on(name, "backed up") else None
        if phase is Phase.BACKUP:
            if not self._go_on(name, "installed", window=True) or not self.runner._rechecked([name]):
                return None
            entering = {"backup_id": result.backup_id, "versions_before": result.versions_before or None}
            return Step(name, Phase.INSTALL, _S.INSTALLING, move_args=entering)
        return Step(name, Phase.VERIFY, _S.VERIFYING)  # installed

    def _go_on(self, name: str, next_step: str, window: bool = False) -> bool:
        """Before this host's next phase: the budget and an abort stop it; before install its window."""
        stop = self.runner._stop(self.wave, self.budget)
        if stop is not None:
            self.rec.move(name, _S.SKIPPED, f"{self.runner._stop_prefix()}{stop}; not {next_step}")
            return False
        if not window:
            return True
        host = self.runner.hostmap[name]
        problem = check_window(host, self.runner.assets.get(name), self.rec.now())
        if problem is None:
            return True
        self.rec.move(name, _S.SKIPPED, f"{problem.detail}; not {next_step}")
        return False
