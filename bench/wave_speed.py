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
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from wave_events import phase_spans, task_results
from wave_results import LABELS, VARIANTS, Sample, measured, table, targets, to_json

IDLE_SAMPLE_S = 10.0  # the lab hosts' idle CPU share: two podman stats this far apart, before the first wave


# ------------------------------------------------------------------------------------------- pure part
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
