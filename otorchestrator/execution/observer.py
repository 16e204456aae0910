"""Observers of a run: progress display, JSON event streams. Separate from execution; never required. A run
has a list of them (`Observers`); none of them can stop it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, overload

from otorchestrator.execution.backend import PhaseOutcome, TaskEvent
from otorchestrator.models.results import Phase
from otorchestrator.models.run import HostState, RunRecord
from otorchestrator.models.waves import Wave


class Observer(Protocol):
    def run_started(self, run: RunRecord, resumed: bool) -> None: ...

    def wave_started(self, wave: Wave, at: datetime) -> None: ...

    def phase_started(self, wave: int, phase: Phase, hosts: Sequence[str], at: datetime) -> None: ...

    def phase_finished(self, wave: int, outcome: PhaseOutcome, at: datetime) -> None: ...

    def host_moved(
        self, host: str, wave: int, before: HostState | None, after: HostState, detail: str, at: datetime
    ) -> None: ...

    def task(self, event: TaskEvent) -> None: ...

    def wave_finished(self, wave: Wave, at: datetime, halted: str | None) -> None: ...

    def message(self, text: str) -> None: ...


class NullObserver:
    """Does nothing; subclass it and override what you need."""

    def run_started(self, run: RunRecord, resumed: bool) -> None:
        pass

    def wave_started(self, wave: Wave, at: datetime) -> None:
        pass

    def phase_started(self, wave: int, phase: Phase, hosts: Sequence[str], at: datetime) -> None:
        pass

    def phase_finished(self, wave: int, outcome: PhaseOutcome, at: datetime) -> None:
        pass

    def host_moved(
        self, host: str, wave: int, before: HostState | None, after: HostState, detail: str, at: datetime
    ) -> None:
        pass

    def task(self, event: TaskEvent) -> None:
        pass

    def wave_finished(self, wave: Wave, at: datetime, halted: str | None) -> None:
        pass

    def message(self, text: str) -> None:
        pass


class Observers(Sequence[Observer]):
    """Observers as a list (nornir's processors): every call goes to each, in order. One that raises is
    reported (once per observer and method: to the others' `message`, and in `failures`, which the
    orchestrator audits) and never stops the run or the observers after it."""

    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self._items = tuple(observers)
        self.failures: list[str] = []
        self._reported: set[tuple[int, str]] = set()
        self._mutex = threading.Lock()  # host flows call from worker threads

    @classmethod
    def of(cls, observers: Observer | Sequence[Observer] | None) -> Observers:
        """The fan-out of `observers` (itself if it is one already; one observer or none are lists too)."""
        if isinstance(observers, Observers):
            return observers
        if observers is None:
            return cls()
        if isinstance(observers, Sequence):
            return cls(observers)
        return cls([observers])

    @overload
    def __getitem__(self, index: int) -> Observer: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Observer]: ...

    def __getitem__(self, index: int | slice) -> Observer | Sequence[Observer]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def _each(self, method: str, *args: Any) -> None:
        for observer in self._items:
            try:
                getattr(observer, method)(*args)
            except Exception as exc:  # an observer's failure is its own: the run and the others go on
                self._failed(observer, method, exc)

    def _failed(self, observer: Observer, method: str, exc: Exception) -> None:
        key = (id(observer), method)
        text = f"observer {type(observer).__name__}.{method} failed: {type(exc).__name__}: {exc}"[:300]
        with self._mutex:
            if key in self._reported:
                return
            self._reported.add(key)
            self.failures.append(text)
        for other in self._items:
            if other is not observer:
                with contextlib.suppress(Exception):
                    other.message(text)

    def run_started(self, run: RunRecord, resumed: bool) -> None:
        self._each("run_started", run, resumed)

    def wave_started(self, wave: Wave, at: datetime) -> None:
        self._each("wave_started", wave, at)

    def phase_started(self, wave: int, phase: Phase, hosts: Sequence[str], at: datetime) -> None:
        self._each("phase_started", wave, phase, hosts, at)

    def phase_finished(self, wave: int, outcome: PhaseOutcome, at: datetime) -> None:
        self._each("phase_finished", wave, outcome, at)

    def host_moved(
        self, host: str, wave: int, before: HostState | None, after: HostState, detail: str, at: datetime
    ) -> None:
        self._each("host_moved", host, wave, before, after, detail, at)

    def task(self, event: TaskEvent) -> None:
        self._each("task", event)

    def wave_finished(self, wave: Wave, at: datetime, halted: str | None) -> None:
        self._each("wave_finished", wave, at, halted)

    def message(self, text: str) -> None:
        self._each("message", text)
