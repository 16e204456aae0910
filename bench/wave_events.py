"""Ansible-runner job events -> task results per host and phase, per-host phase spans, the time each host
waited for the others, tasks per host (pure; the wave benches' event side: bench/wave_speed.py,
bench/wave_overhead.py)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

PHASES = ("diagnostics", "backup", "install", "verify")
ROLE_PHASE = {
    "ot_diagnostics": "diagnostics",
    "ot_backup": "backup",
    "ot_patch": "install",
    "ot_verify": "verify",
}
RESULT_EVENTS = {"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"}


@dataclass(frozen=True)
class TaskResult:
    host: str
    phase: str
    start: float  # epoch seconds
    end: float


@dataclass(frozen=True)
class Span:
    start: float
    end: float
    tasks: int


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def event_phase(data: Mapping[str, Any]) -> str | None:
    """The phase a task result belongs to: its playbook's name, else the role in its task path."""
    stem = Path(str(data.get("playbook") or "")).stem
    if stem in PHASES:
        return stem
    path = str(data.get("task_path") or "")
    for role, phase in ROLE_PHASE.items():
        if f"/{role}/" in path:
            return phase
    return None


def task_results(events: Iterable[Mapping[str, Any]]) -> list[TaskResult]:
    """Task results (one per host and task, items not counted) from ansible-runner job events."""
    found = []
    for event in events:
        data = event.get("event_data") or {}
        if event.get("event") not in RESULT_EVENTS or not data.get("host"):
            continue
        phase = event_phase(data)
        end = data.get("end") or event.get("created")
        if phase is None or not end:
            continue
        start = data.get("start") or end
        found.append(TaskResult(str(data["host"]), phase, _epoch(start), _epoch(end)))
    return found


def phase_spans(results: Iterable[TaskResult]) -> dict[str, dict[str, Span]]:
    """host -> phase -> (first task start, last task end, task results)."""
    spans: dict[str, dict[str, Span]] = {}
    for r in results:
        by_phase = spans.setdefault(r.host, {})
        old = by_phase.get(r.phase)
        by_phase[r.phase] = (
            Span(r.start, r.end, 1)
            if old is None
            else Span(min(old.start, r.start), max(old.end, r.end), old.tasks + 1)
        )
    return spans


def phase_waits(spans: Mapping[str, Mapping[str, Span]]) -> dict[str, list[float]]:
    """phase -> per host, the time it waited after its own phase ended: until its own next phase started,
    or (its last phase) until the wave's last task ended. A host without a next phase has no entry."""
    if not spans:
        return {}
    wave_end = max(s.end for by_phase in spans.values() for s in by_phase.values())
    waits: dict[str, list[float]] = {}
    for by_phase in spans.values():
        done = [p for p in PHASES if p in by_phase]
        for here, nxt in zip(done, [*done[1:], None], strict=True):
            until = wave_end if nxt is None else by_phase[nxt].start
            waits.setdefault(here, []).append(max(0.0, until - by_phase[here].end))
    return waits


def tasks_per_host(spans: Mapping[str, Mapping[str, Span]]) -> dict[str, float]:
    """phase -> mean task results per host (hosts that ran the phase)."""
    out: dict[str, float] = {}
    for phase in PHASES:
        counts = [by_phase[phase].tasks for by_phase in spans.values() if phase in by_phase]
        if counts:
            out[phase] = statistics.fmean(counts)
    return out
