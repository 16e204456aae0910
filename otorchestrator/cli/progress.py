"""Live terminal progress of a run (rich): one row per host with wave, state, phase, elapsed, result."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from otorchestrator.execution.backend import PhaseOutcome, TaskEvent
from otorchestrator.execution.observer import NullObserver, Observer
from otorchestrator.execution.summary import RunSummary
from otorchestrator.models.results import Phase
from otorchestrator.models.run import HostState, RunRecord
from otorchestrator.models.waves import Wave

STATE_STYLE: dict[HostState, str] = {
    HostState.PENDING: "dim",
    HostState.SUCCEEDED: "bold green",
    HostState.BLOCKED: "yellow",
    HostState.FAILED: "red",
    HostState.ROLLING_BACK: "magenta",
    HostState.ROLLED_BACK: "bold magenta",
    HostState.ROLLBACK_FAILED: "bold red",
    HostState.UNREACHABLE: "red",
    HostState.TIMED_OUT: "red",
    HostState.SKIPPED: "dim yellow",
    HostState.NEEDS_RECONCILE: "bold yellow",
}


def styled_state(state: HostState) -> Text:
    return Text(state.value, style=STATE_STYLE.get(state, "cyan"))


@dataclass
class _Row:
    wave: int
    state: HostState = HostState.PENDING
    since: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    task: str = ""
    detail: str = ""


class LiveProgress(NullObserver):
    """An observer that renders a live table; use as a context manager around the run."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: dict[str, _Row] = {}
        self.header = ""
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._live = Live(self, console=console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveProgress:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    # -- rendering -----------------------------------------------------------------------------------

    def __rich__(self) -> RenderableType:
        with self._lock:
            table = Table(title=self.header or None, title_justify="left", expand=False)
            for column in ("wave", "host", "state", "elapsed", "current task / result"):
                table.add_column(column, no_wrap=column != "current task / result", overflow="fold")
            now = time.monotonic()
            for host, row in self.rows.items():
                elapsed = ""
                if row.started is not None:
                    elapsed = f"{(row.finished or now) - row.started:5.1f}s"
                if not row.state.terminal and row.state is not HostState.PENDING:
                    note = Text(row.task or "...", style="cyan")
                else:
                    note = Text(row.detail[:100])
                table.add_row(str(row.wave), host, styled_state(row.state), elapsed, note)
            return Group(table, *(Text(line, style="dim") for line in self.lines[-4:]))

    # -- observer --------------------------------------------------------------------------------------

    def run_started(self, run: RunRecord, resumed: bool) -> None:
        mode = " (check mode: nothing changes)" if run.check_mode else ""
        verb = "resumed" if resumed else "started"
        self.header = f"run {run.run_id} {verb} by {run.operator}{mode}"

    def wave_started(self, wave: Wave, at: datetime) -> None:
        self.message(
            f"wave {wave.index} ({wave.name}): {len(wave.hosts)} host(s), budget {wave.failure_budget}"
        )

    def phase_started(self, wave: int, phase: Phase, hosts: Sequence[str], at: datetime) -> None:
        with self._lock:
            for host in hosts:
                if host in self.rows:
                    self.rows[host].task = f"{phase.value}: starting"

    def phase_finished(self, wave: int, outcome: PhaseOutcome, at: datetime) -> None:
        self.message(f"wave {wave}: {outcome.phase.value} finished ({outcome.status.value})")

    def host_moved(
        self, host: str, wave: int, before: HostState | None, after: HostState, detail: str, at: datetime
    ) -> None:
        with self._lock:
            row = self.rows.setdefault(host, _Row(wave=wave))
            now = time.monotonic()
            if after.active and row.started is None:
                row.started = now
            if after.terminal and row.started is not None:
                row.finished = now
            if after is HostState.PENDING:
                row.started = row.finished = None
            row.state, row.since, row.detail = after, now, detail
            row.task = ""

    def task(self, event: TaskEvent) -> None:
        with self._lock:
            row = self.rows.get(event.host)
            if row is not None:
                row.task = f"{event.phase.value}: {event.task} [{event.status}]"

    def wave_finished(self, wave: Wave, at: datetime, halted: str | None) -> None:
        if halted:
            self.message(f"wave {wave.index} ({wave.name}): HALTED: {halted}")

    def message(self, text: str) -> None:
        with self._lock:
            self.lines.append(text)


def summary_table(summary: RunSummary, title: str | None = None) -> Table:
    run = summary.run
    table = Table(title=title or f"run {run.run_id}: {run.status.value}", title_justify="left")
    for column in ("wave", "host", "state", "versions", "detail"):
        table.add_column(column, overflow="fold")
    for h in summary.hosts:
        versions = ", ".join(
            f"{pkg} {h.versions_before.get(pkg, '?')}->{ver}"
            if h.versions_before.get(pkg) != ver
            else f"{pkg} {ver}"
            for pkg, ver in h.versions_after.items()
        )
        table.add_row(str(h.wave), h.host, styled_state(h.state), versions, h.detail[:160])
    return table


class PlainProgress(NullObserver):
    """Line-by-line progress when stdout is not a terminal (logs, CI)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def host_moved(self, host: str, wave: int, before: Any, after: Any, detail: str, at: Any) -> None:
        note = f" ({detail[:120]})" if detail and after.terminal else ""
        self.console.print(f"{at:%H:%M:%S} wave {wave} {host}: {after.value}{note}", highlight=False)

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False)


def make_observer(as_json: bool) -> tuple[Observer, AbstractContextManager[Any]]:
    """The run's progress display: none with --json, live rows on a terminal, else plain lines; and the
    context it is shown in."""
    console = Console()
    if as_json:
        return NullObserver(), nullcontext()
    if console.is_terminal:
        live = LiveProgress(console)
        return live, live
    return PlainProgress(console), nullcontext()
