"""One wave of N lab hosts through (a) the baseline, (b) the engine, (c) the engine with Mitogen (issue 12).

(a) round 1's phase playbooks run AWX-style (bench/baseline: one job per phase, linear strategy, default
    ssh without pipelining, a fresh ControlPath per job);
(b) `otorch run` on a one-wave plan (the real run path: CLI, engine, ansible-runner, the project's
    ansible.cfg), with the baseline's forks (`--forks 20`: bench/baseline/ansible.cfg; the engine's
    default of 10 hosts in their chain at once would make 24 hosts a different wave from (a)'s);
(c) the same with the engine's Mitogen opt-in, when `otorch run --help` offers one (else "not available").

Interleaved (the order of a, b, c rotates with each repetition) and repeated in one run; every host is
recreated at its baseline (`otorch lab reset`: products 1.0.0) before every measured wave, untimed. The
hosts take clean upgrades only (nwc-scada-server, nwc-historian, nwc-hmi-runtime, nwc-drill-agent 1.1.0);
24 hosts need the scale lab, which the bench starts itself (`otorch lab up --hosts 26`).

Per size and variant: wall time median [min-max], controller CPU seconds (user+sys of every process the
bench waited for: RUSAGE_CHILDREN deltas; ssh ControlPersist masters detach and are not counted on either
side), the lab hosts' CPU seconds (the wave's containers, `podman stats` cpu_time before and after: they
run on the same cores), tasks per host per phase (task results in the job events, skipped included), and
per phase the time a host waited for others (its own next phase's first task start minus its own last task
end in the phase; for the last phase: the wave's last task end minus its own). The load average is printed
with every figure: on a shared machine the figures are under load. Before the first wave it prints the lab
hosts' memory and CPU share per host (`podman stats`, idle). Targets (issue 12; print only, no asserts):
(b) >= 3x faster than (a) on 4 and 8 hosts, (b) <= 30 s for 4 hosts when idle, (b) 24 hosts <= 2.5x of 4.

    python bench/wave_speed.py                      # sizes 1,4,8,24, 3 repetitions (about 1.5 h)
    python bench/wave_speed.py --quick              # sizes 1,4, 1 repetition (a few minutes)
    python bench/wave_speed.py --sizes 4,8 --reps 2 --json out/wave_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

PHASES = ("diagnostics", "backup", "install", "verify")
VARIANTS = ("a", "b", "c")
LABELS = {"a": "(a) baseline AWX-style", "b": "(b) engine", "c": "(c) engine + Mitogen"}
ROLE_PHASE = {
    "ot_diagnostics": "diagnostics",
    "ot_backup": "backup",
    "ot_patch": "install",
    "ot_verify": "verify",
}
IDLE_SAMPLE_S = 10.0  # the lab hosts' idle CPU share: two podman stats this far apart, before the first wave
RESULT_EVENTS = {"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"}


# ------------------------------------------------------------------------------------------- pure part
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


def rotation(rep: int, variants: Sequence[str] = VARIANTS) -> list[str]:
    """The order of the variants in repetition `rep`: rotated by one each time (interleaved)."""
    k = rep % len(variants)
    return [*variants[k:], *variants[:k]]


def mitogen_args(help_text: str) -> list[str] | None:
    """The `otorch run` arguments that choose Mitogen, from its --help (None: no such opt-in yet)."""
    if "--transport" in help_text and "mitogen" in help_text:
        return ["--transport", "mitogen"]
    if "--mitogen" in help_text:
        return ["--mitogen"]
    return None


def cpu_now() -> float:
    """User + system CPU seconds of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_now() -> tuple[float, float, float]:
    return os.getloadavg()


# ------------------------------------------------------------------------------------------- effects
def run_engine(lab: Any, chosen: Sequence[tuple[str, str]], work: Path, extra: Sequence[str]) -> Sample:
    import subprocess

    from baseline import harness

    plan_file = work / "waves.json"
    plan_file.write_text(harness.build_plan(lab, chosen).model_dump_json(indent=1))
    cmd = harness.otorch_run_cmd(lab, plan_file, work / "state", extra)
    sample, t0, c0 = _begin(len(chosen))
    done = subprocess.run(cmd, env=lab.env(), cwd=work, capture_output=True, text=True, check=False)
    _end(sample, t0, c0)
    sample.problem = harness.engine_problem(done)
    sample.ok = not sample.problem
    return measured(sample, phase_spans(task_results(harness.read_events(work / "state"))))


def run_baseline(lab: Any, chosen: Sequence[tuple[str, str]], work: Path) -> Sample:
    from baseline import awx_style, harness

    entries = {str(e["package"]): e for e in awx_style.catalog_entries(lab.catalog).values()}
    patches = {name: [entries[package]] for name, package in chosen}
    sample, t0, c0 = _begin(len(chosen))
    result = awx_style.run_wave(lab.inventory, [n for n, _ in chosen], patches, work, lab.cfg.port_offset)
    _end(sample, t0, c0)
    sample.ok, sample.problem = result.ok, result.problem
    return measured(sample, phase_spans(task_results(harness.read_events(work))))


def _begin(size: int) -> tuple[Sample, float, float]:
    import time

    return Sample(size=size, variant="", rep=0, ok=False, load=load_now()), time.monotonic(), cpu_now()


def _end(sample: Sample, t0: float, c0: float) -> None:
    import time

    sample.wall_s, sample.cpu_s = time.monotonic() - t0, cpu_now() - c0


def run_bench(
    sizes: Sequence[int], reps: int, variants: Sequence[str]
) -> tuple[list[Sample], dict[str, str], dict[str, Any]]:
    import subprocess
    import tempfile
    import time

    from baseline import harness

    help_text = subprocess.run(
        [*harness.otorch_cmd(), "run", "--help"], capture_output=True, text=True, check=False
    ).stdout
    mitogen = mitogen_args(help_text)
    available = {v: "" for v in VARIANTS}
    if mitogen is None:
        available["c"] = "`otorch run` has no Mitogen opt-in (yet)"
    for v in VARIANTS:
        if v not in variants:
            available[v] = available[v] or "not asked for (--variants)"
    lab = harness.Lab.start(max(sizes))
    meta = {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"), "sizes": list(sizes),
        "reps": reps, "lab": lab.cfg.name, "inventory": str(lab.inventory), "cpus": os.cpu_count(),
        "forks": harness.baseline_forks(),
    }  # fmt: skip
    print(f"lab {lab.cfg.name!r}, inventory {lab.inventory}; sizes {list(sizes)}, {reps} rep(s); "
          f"variants: {', '.join(v for v in VARIANTS if not available[v])}; "
          f"forks {harness.baseline_forks()} on every side")  # fmt: skip
    every = [lab.cfg.container(n) for n in lab.hosts]
    first, t_first = harness.podman_usage(every), time.monotonic()
    time.sleep(IDLE_SAMPLE_S)
    then = harness.podman_usage(every)
    print(harness.lab_cost_text(first, then, time.monotonic() - t_first))
    meta["lab_hosts"] = {n: asdict(u) for n, u in then.items()}
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="otwave-") as tmp:
        for size in sizes:
            chosen = harness.wave_hosts(lab.hosts, size)
            for rep in range(reps):
                for variant in rotation(rep, [v for v in VARIANTS if not available[v]]):
                    lab.reset([n for n, _ in chosen])
                    work = Path(tmp) / f"{size}-{rep}-{variant}"
                    work.mkdir()
                    containers = [lab.cfg.container(n) for n, _ in chosen]
                    before = harness.podman_usage(containers)
                    if variant == "a":
                        sample = run_baseline(lab, chosen, work)
                    else:
                        sample = run_engine(lab, chosen, work, (mitogen or []) if variant == "c" else [])
                    sample.lab_cpu_s = harness.lab_cpu(before, harness.podman_usage(containers))
                    sample.variant, sample.rep = variant, rep
                    samples.append(sample)
                    status = "ok" if sample.ok else f"FAILED: {sample.problem[:300]}"
                    print(f"{size:>3} hosts rep {rep + 1} {LABELS[variant]:<24} {sample.wall_s:7.1f} s "
                          f"CPU {sample.cpu_s:6.1f} s lab CPU {sample.lab_cpu_s:6.1f} s "
                          f"load {sample.load[0]:.2f} tasks/host "
                          f"{sum(sample.tasks.values()):.0f}: {status}", flush=True)  # fmt: skip
        lab.reset([n for n, _ in harness.wave_hosts(lab.hosts, max(sizes))])
    return samples, available, meta


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,4,8,24", help="wave sizes (hosts), comma-separated")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each size and variant")
    parser.add_argument("--quick", action="store_true", help="sizes 1,4 and one repetition")
    parser.add_argument("--variants", default="a,b,c", help="which of a,b,c to run")
    parser.add_argument("--json", metavar="FILE", help="also write samples and summary as JSON ('-': stdout)")
    args = parser.parse_args(argv)
    sizes = [1, 4] if args.quick else [int(x) for x in args.sizes.split(",") if x]
    reps = 1 if args.quick else args.reps
    variants = [v for v in args.variants.split(",") if v in VARIANTS]
    samples, available, meta = run_bench(sizes, reps, variants)
    print()
    print(table(samples, available))
    print()
    for line in targets(samples):
        print(line)
    if args.json:
        doc = json.dumps(to_json(samples, available, meta), indent=1)
        if args.json == "-":
            print(doc)
        else:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(doc + "\n")
    return 0 if samples and all(s.ok for s in samples) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/baseline
    sys.exit(main())
