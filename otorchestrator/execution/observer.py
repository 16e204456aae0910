"""Observers of a run: progress display, JSON event streams. Separate from execution; never required."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

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
