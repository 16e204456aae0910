"""One phase job of a run's hosts, from the engine's side: `prepare` writes every host's transition into the
phase and the phase's start, then builds the backend's request (execution/requests.py); `collect` records
each host's result, timed by that host's own task events (`EventTimes`); `run` is both around one backend
call on this thread. The wave runner (lock-step jobs: resume probes, rollbacks, soak rounds) and the host
flow (execution/hostchain.py, jobs on worker threads) build their jobs here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from otorchestrator.execution.backend import Backend, PhaseOutcome, PhaseRequest, RunStatus, TaskEvent
from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.recorder import Recorder
from otorchestrator.execution.requests import run_phase_request
from otorchestrator.execution.verdicts import missing_result
from otorchestrator.models.catalog import Patch
from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import HostState
from otorchestrator.models.waves import Wave, WaveHost

_CANCELABLE = (Phase.DIAGNOSTICS, Phase.BACKUP)  # never cancel a phase that changes the host


@dataclass(frozen=True)
class JobSpec:
    """What one job runs: `phase` on `names`, each moved to `entering` first (None: already there)."""

    phase: Phase
    names: tuple[str, ...]
    entering: HostState | None
    move_args: Mapping[str, Mapping[str, Any]] | None = None  # per host: the transition's fields
    backup_ids: Mapping[str, str | None] | None = None  # rollback: the backup of each host
    extra: Mapping[str, Any] | None = None  # extra vars of the job
    probe: bool = False  # a read-only re-probe on resume (never in check mode, never canceled)


@dataclass(frozen=True)
class Prepared:
    """A job whose transitions and start are written: its request (or the error that stands for its
    result, when none could be built), when it started and how it is canceled."""

    request: PhaseRequest | str
    started: datetime
    cancel: Callable[[], bool] | None


@dataclass
class EventTimes:
    """Each host's first and last task event in its current job: that host's own phase time (a job of
    several hosts lasts as long as its slowest host)."""

    seen: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)

    def saw(self, host: str, at: datetime) -> None:
        first = self.seen[host][0] if host in self.seen else at
        self.seen[host] = (first, at)

    def span(self, host: str, started: datetime, finished: datetime) -> tuple[datetime, datetime]:
        """The host's (first, last) event; the job's (`started`, `finished`) when it had none."""
        return self.seen.get(host, (started, finished))

    def forget(self, hosts: Sequence[str]) -> None:
        for host in hosts:
            self.seen.pop(host, None)


class PhaseJobs:
    def __init__(
        self,
        backend: Backend,
        rec: Recorder,
        options: RunOptions,
        hostmap: Mapping[str, WaveHost],
        patches: Mapping[str, Patch],
    ) -> None:
        self.backend = backend
        self.rec = rec
        self.options = options
        self.hostmap = hostmap
        self.patches = patches

    def run(self, wave: Wave, spec: JobSpec) -> dict[str, PhaseResult]:
        """Write each host's transition into the phase, then run the phase once over all of them."""
        if not spec.names:
            return {}
        job = self.prepare(wave, spec)
        if isinstance(job.request, str):
            return self.collect(wave, spec.phase, spec.names, None, job.request, job.started)
        times, handler = EventTimes(), self.rec.task_handler(wave.index)

        def on_event(event: TaskEvent) -> None:
            times.saw(event.host, self.rec.now())
            handler(event)

        try:
            outcome = self.backend.run_phase(job.request, on_event=on_event, cancel=job.cancel)
        except Exception as exc:  # the backend broke: every host gets a failed result, the run goes on
            error = f"backend error: {type(exc).__name__}: {exc}"
            return self.collect(wave, spec.phase, spec.names, None, error, job.started, times)
        return self.collect(wave, spec.phase, spec.names, outcome, "", job.started, times)

    def prepare(self, wave: Wave, spec: JobSpec) -> Prepared:
        """Write each host's transition into the phase and the phase's start, then build the job's request
        (or the error that stands for its result): the job may start after."""
        names, phase, probe = spec.names, spec.phase, spec.probe
        if spec.entering is not None:
            for n in names:
                self.rec.move(n, spec.entering, **dict((spec.move_args or {}).get(n, {})))
        started = self.rec.phase_started(wave.index, phase, names, self.options.check_mode)
        hosts = [self.hostmap[n] for n in names]
        first = "" if probe else f"-{names[0]}" + (f"+{len(names) - 1}" if len(names) > 1 else "")
        label = f"{self.rec.run_id}-w{wave.index}{first}-{'probe' if probe else phase.value}"
        cancel = self.options.abort_requested if phase in _CANCELABLE and not probe else None
        try:
            request: PhaseRequest | str = run_phase_request(
                self.options, phase, hosts, self.patches, run_id=self.rec.run_id, label=label,
                backup_ids=spec.backup_ids, extra=spec.extra, probe=probe,
            )  # fmt: skip
        except Exception as exc:  # e.g. a host not in the inventory: failed results, as a backend error
            request = f"backend error: {type(exc).__name__}: {exc}"
        return Prepared(request, started, cancel)

    def collect(
        self,
        wave: Wave,
        phase: Phase,
        names: Sequence[str],
        outcome: PhaseOutcome | None,
        error: str,
        started: datetime,
        times: EventTimes | None = None,
    ) -> dict[str, PhaseResult]:
        """Record each host's result of a phase job (`outcome` None: the backend raised `error`), timed
        by that host's own task events (`times`; the job's start and now for a host without any)."""
        if outcome is None:
            outcome = PhaseOutcome(phase=phase, status=RunStatus.FAILED, rc=None, results={})
            error = self.rec.clean(error)[:300]
        else:
            error = "the backend returned no result for this host"
        results: dict[str, PhaseResult] = {}
        finished = self.rec.now()
        for n in names:
            result = outcome.results.get(n) or missing_result(phase, n, error)
            first, last = (times or EventTimes()).span(n, started, finished)
            results[n] = self.rec.phase_result(wave.index, result, first, last)
        self.rec.observer.phase_finished(wave.index, outcome, self.rec.now())
        return results
