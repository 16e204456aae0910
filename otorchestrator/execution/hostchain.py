"""Hosts flow: within a wave each host moves to its next phase as soon as its own previous phase passed.

Every host has its own chain (diagnostics -> backup -> install -> verify [-> rollback]); each step of each
host is one backend job, run by a pool of `forks` workers. The engine itself stays on one thread (this
one): it writes the host's transition (store, then audit) before it hands that host's job to a worker, it
records results and task events as they come back, and it decides the next step. Workers only run the
backend call, so the Recorder, the StateStore and the audit chain are never written from two threads.

Bounded by `forks` (hosts in their chain at once), the failure budget and the operator's abort (checked
before a host starts, before its backup and before its install: once spent, no host starts a new install;
hosts mid-step finish that step and are settled; installed hosts verify and roll back), the window
(re-checked for each host just before its install) and `waits_for` (a host starts when the hosts it waits
for succeeded). `forks == 1` runs each job on this thread: one host at a time, in a fixed order (the unit
tests' crash sweep relies on it).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from otorchestrator.execution.backend import PhaseOutcome, PhaseRequest, TaskEvent
from otorchestrator.execution.budget import Budget
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
class Job:
    """One step of one host, its transition already written."""

    host: str
    phase: Phase
    request: PhaseRequest | str  # str: the error that stands for its result (no request could be built)
    started: datetime
    cancel: Callable[[], bool] | None


Ran = tuple[PhaseOutcome | None, str]  # the backend's outcome, or None and the error it raised


class HostFlow:
    """The hosts of one wave, each through its own chain."""

    def __init__(self, runner: WaveRunner, wave: Wave, budget: Budget, forks: int) -> None:
        self.runner = runner
        self.rec = runner.rec
        self.wave = wave
        self.budget = budget
        self.forks = max(1, forks)
        self.members = [h for h in wave.hosts if h.name in self.rec.hosts]
        self._events: queue.SimpleQueue[TaskEvent] = queue.SimpleQueue()
        self._engine_thread = threading.get_ident()
        self._handler = self.rec.task_handler(wave.index)
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
        if isinstance(job.request, str):
            return None, job.request
        try:
            return self.runner.backend.run_phase(job.request, on_event=self._on_event, cancel=job.cancel), ""
        except Exception as exc:  # the backend broke: this host gets a failed result, the run goes on
            return None, f"backend error: {type(exc).__name__}: {exc}"

    def _on_event(self, event: TaskEvent) -> None:
        if threading.get_ident() == self._engine_thread:
            self._handler(event)
        else:
            self._events.put(event)  # recorded by the engine thread

    def _drain(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            self._handler(event)

    def _next(self, submit: Callable[[Job], None]) -> None:
        """Wait for a job to end (recording task events meanwhile), then take each ended host a step on."""
        while True:
            done, _ = wait(list(self._running), timeout=_EVENT_POLL_S, return_when=FIRST_COMPLETED)
            self._drain()
            if done:
                break
        for future in sorted(done, key=lambda f: self.members_order(self._running[f].host)):
            job = self._running.pop(future)
            outcome, error = future.result()  # re-raises a crash of the worker
            result = self.runner.collect(self.wave, job.phase, [job.host], outcome, error, job.started)[
                job.host
            ]
            follow = self._after(job.phase, job.host, result)
            if follow is not None:
                submit(follow)

    def members_order(self, name: str) -> int:
        return next(i for i, h in enumerate(self.members) if h.name == name)

    # -- starting hosts -----------------------------------------------------------------------------

    def _busy(self) -> int:
        return len(self._running)

    def _start_hosts(self, submit: Callable[[Job], None]) -> None:
        """Start pending hosts whose dependencies succeeded, while a fork is free."""
        pending = [h for h in self.members if self.rec.state(h.name) is _S.PENDING]
        if not pending or self._busy() >= self.forks:
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
        for host in ready:
            if self._busy() >= self.forks:
                return
            if self.runner._admit(host):
                submit(self._job(host.name, Phase.DIAGNOSTICS, entering=_S.DIAGNOSING))

    def _job(
        self,
        name: str,
        phase: Phase,
        *,
        entering: HostState | None,
        move_args: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        backup_id: str | None = None,
    ) -> Job:
        request, started, cancel = self.runner.prepare(
            self.wave,
            phase,
            [name],
            entering=entering,
            move_args={name: move_args} if move_args else None,
            backup_ids={name: backup_id} if phase is Phase.ROLLBACK else None,
            extra=extra,
        )
        return Job(name, phase, request, started, cancel)

    # -- one host's next step -----------------------------------------------------------------------

    def _after(self, phase: Phase, name: str, result: PhaseResult) -> Job | None:
        """Settle `name` after `phase` and return its next step (transition written), or None when done."""
        runner = self.runner
        if phase is Phase.DIAGNOSTICS:
            if not runner._settle(name, result, _S.BLOCKED, "diagnostics failed"):
                return None
            if not self._go_on(name, "backed up"):
                return None
            backup_id = f"{self.rec.run_id}-w{self.wave.index}-{self.rec.now():%H%M%S%f}"
            return self._job(
                name, Phase.BACKUP, entering=_S.BACKING_UP, extra={"otorch_backup_id": backup_id}
            )
        if phase is Phase.BACKUP:
            if good(result) and not result.backup_id:
                self.rec.move(name, _S.FAILED, "backup reported no backup id: nothing installed")
                return None
            if not runner._settle(name, result, _S.FAILED, "backup failed, nothing installed"):
                return None
            if not self._go_on(name, "installed", window=True) or not runner._rechecked([name]):
                return None
            entering = {"backup_id": result.backup_id, "versions_before": result.versions_before or None}
            return self._job(name, Phase.INSTALL, entering=_S.INSTALLING, move_args=entering)
        if phase is Phase.INSTALL:
            if runner._settle(name, result, self.undo, self.note + "install failed"):
                return self._job(name, Phase.VERIFY, entering=_S.VERIFYING)
            return self._rollback(name)
        if phase is Phase.VERIFY:
            if good(result):
                runner.succeed(self.wave, name, result)
                return None
            runner._settle(name, result, self.undo, self.note + "verify failed")
            return self._rollback(name)
        runner.settle_rollback(self.wave, name, result)
        return None

    def _rollback(self, name: str) -> Job | None:
        if self.rec.state(name) is not _S.ROLLING_BACK:
            return None
        backup_id = self.rec.hosts[name].backup_id
        extra = {"otorch_backup_id": backup_id} if backup_id else None
        return self._job(name, Phase.ROLLBACK, entering=None, extra=extra, backup_id=backup_id)

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
