"""bench/wave_speed.py's samples and what is made of them (pure): per size and variant, median [range],
speed-ups, the issue's targets, the result table and the JSON document."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from wave_events import PHASES, Span, phase_waits, tasks_per_host

VARIANTS = ("a", "b", "c")
LABELS = {"a": "(a) baseline AWX-style", "b": "(b) engine", "c": "(c) engine + Mitogen"}


@dataclass
class Sample:
    size: int
    variant: str
    rep: int
    ok: bool
    wall_s: float = 0.0
    cpu_s: float = 0.0
    lab_cpu_s: float = 0.0  # the wave's lab hosts (containers), CPU seconds during the wave
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)  # 1, 5, 15 min, when the wave started
    tasks: dict[str, float] = field(default_factory=dict)  # phase -> task results per host
    waits: dict[str, float] = field(default_factory=dict)  # phase -> mean wait per host
    waits_max: dict[str, float] = field(default_factory=dict)
    problem: str = ""


def measured(sample: Sample, spans: Mapping[str, Mapping[str, Span]]) -> Sample:
    """The sample with its tasks and waits filled in from the job events' spans."""
    waits = phase_waits(spans)
    sample.tasks = tasks_per_host(spans)
    sample.waits = {p: statistics.fmean(w) for p, w in waits.items()}
    sample.waits_max = {p: max(w) for p, w in waits.items()}
    return sample


@dataclass(frozen=True)
class Stat:
    median: float
    low: float
    high: float
    n: int

    def text(self, unit: str = "s", digits: int = 1) -> str:
        if self.n == 1:
            return f"{self.median:.{digits}f}{unit}"
        return f"{self.median:.{digits}f}{unit} [{self.low:.{digits}f}-{self.high:.{digits}f}]"


def stat(values: Sequence[float]) -> Stat | None:
    return Stat(statistics.median(values), min(values), max(values), len(values)) if values else None


def valid(samples: Iterable[Sample], size: int, variant: str) -> list[Sample]:
    return [s for s in samples if s.size == size and s.variant == variant and s.ok]


def speedup(samples: Sequence[Sample], size: int, slow: str = "a", fast: str = "b") -> float | None:
    """How many times faster `fast` is than `slow` at `size`: the ratio of their median wall times."""
    a, b = (
        stat([s.wall_s for s in valid(samples, size, slow)]),
        stat([s.wall_s for s in valid(samples, size, fast)]),
    )
    return a.median / b.median if a and b and b.median > 0 else None


def scaling(samples: Sequence[Sample], big: int, small: int, variant: str = "b") -> float | None:
    """Median wall time at `big` hosts over the median at `small` hosts, one variant."""
    x, y = (
        stat([s.wall_s for s in valid(samples, big, variant)]),
        stat([s.wall_s for s in valid(samples, small, variant)]),
    )
    return x.median / y.median if x and y and y.median > 0 else None


def targets(samples: Sequence[Sample]) -> list[str]:
    """The issue's targets, each as one line: met / missed / not measured."""

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "MISSED")

    lines = []
    for size in (4, 8):
        x = speedup(samples, size)
        shown = f"{x:.2f}x" if x is not None else "-"
        lines.append(
            f"(b) >= 3x faster than (a) at {size} hosts: {shown}: {verdict(None if x is None else x >= 3)}"
        )
    b4 = stat([s.wall_s for s in valid(samples, 4, "b")])
    shown = b4.text() if b4 else "-"
    load = [s.load[0] for s in valid(samples, 4, "b")]
    under = f" (load {min(load):.1f}-{max(load):.1f}: not idle)" if load and max(load) >= 1.0 else ""
    lines.append(
        f"(b) <= 30 s at 4 hosts when idle: {shown}{under}: {verdict(None if not b4 else b4.median <= 30)}"
    )
    r = scaling(samples, 24, 4)
    shown = f"{r:.2f}x" if r is not None else "-"
    lines.append(f"(b) 24 hosts <= 2.5x the time of 4: {shown}: {verdict(None if r is None else r <= 2.5)}")
    return lines


def _phase_text(values: Mapping[str, float], digits: int = 1) -> str:
    return " ".join(f"{values.get(p, 0):.{digits}f}" for p in PHASES)


def table(samples: Sequence[Sample], available: Mapping[str, str]) -> str:
    """The result table: one row per size and variant; `available`: variant -> why not (empty: it ran)."""
    head = (
        f"{'hosts':>5}  {'variant':<24} {'wall s median [range]':<22} {'CPU s':<18} {'lab CPU s':<10} "
        f"{'load1':<9} "
        f"{'tasks/host (d b i v = sum)':<28} waited s per phase, mean/max (d b i v)"
    )
    rows = [head, "-" * len(head)]
    for size in sorted({s.size for s in samples}):
        for variant in VARIANTS:
            label = LABELS[variant]
            if available.get(variant):
                rows.append(f"{size:>5}  {label:<24} not available: {available[variant]}")
                continue
            ok = valid(samples, size, variant)
            bad = [s for s in samples if s.size == size and s.variant == variant and not s.ok]
            if not ok:
                rows.append(f"{size:>5}  {label:<24} no valid repetition ({len(bad)} failed)")
                continue
            wall, cpu = stat([s.wall_s for s in ok]), stat([s.cpu_s for s in ok])
            load, lab_cpu = stat([s.load[0] for s in ok]), stat([s.lab_cpu_s for s in ok])
            assert wall and cpu and load and lab_cpu
            tasks = {p: statistics.median([s.tasks.get(p, 0) for s in ok]) for p in PHASES}
            waits = {p: statistics.median([s.waits.get(p, 0) for s in ok]) for p in PHASES}
            waits_max = {p: max(s.waits_max.get(p, 0) for s in ok) for p in PHASES}
            task_text = f"{_phase_text(tasks, 0)} = {sum(tasks.values()):.0f}"
            wait_text = " ".join(f"{waits[p]:.1f}/{waits_max[p]:.1f}" for p in PHASES)
            note = f"  ({len(bad)} failed rep(s) left out)" if bad else ""
            rows.append(
                f"{size:>5}  {label:<24} {wall.text():<22} {cpu.text():<18} {lab_cpu.text('', 1):<10} "
                f"{load.text('', 1):<9} "
                f"{task_text:<28} {wait_text}{note}"
            )
        x = speedup(samples, size)
        y = speedup(samples, size, fast="c")
        parts = [f"(a)/(b) {x:.2f}x" if x else "", f"(a)/(c) {y:.2f}x" if y else ""]
        if any(parts):
            rows.append(f"{'':>5}  speed-up: {', '.join(p for p in parts if p)}")
    return "\n".join(rows)


def to_json(
    samples: Sequence[Sample], available: Mapping[str, str], meta: Mapping[str, Any]
) -> dict[str, Any]:
    summary = []
    for size in sorted({s.size for s in samples}):
        for variant in VARIANTS:
            ok = valid(samples, size, variant)
            wall, cpu = stat([s.wall_s for s in ok]), stat([s.cpu_s for s in ok])
            lab_cpu = stat([s.lab_cpu_s for s in ok])
            summary.append({
                "size": size, "variant": variant, "valid": len(ok),
                "wall_s": asdict(wall) if wall else None, "cpu_s": asdict(cpu) if cpu else None,
                "lab_cpu_s": asdict(lab_cpu) if lab_cpu else None,
            })  # fmt: skip
    return {
        **meta, "available": dict(available), "samples": [asdict(s) for s in samples], "summary": summary,
        "speedup_a_over_b": {str(n): speedup(samples, n) for n in sorted({s.size for s in samples})},
        "targets": targets(samples),
    }  # fmt: skip
