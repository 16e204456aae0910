"""Planning time and peak memory for 1k, 10k and 100k generated assets against the real CISA advisories.

    taskset -c 0 .venv/bin/python bench/plan_scale.py [--csaf ../shared/data/csaf] [--sizes 1000,10000,100000]

Assets carry products drawn from the advisories' own product rules (some affected, some already fixed,
some unknown to every advisory); the catalog has a patch for most affected products.

Per size it prints:
  plan s   build_plan: advisory index, matching, SSVC, overlays, ordering (wall clock)
  hash s   Plan.sealed(): the content hash (streamed RFC 8785, models/canonical_stream.py); part of
           producing a plan, so counted in the total
  total s  plan + hash, wall clock; `cpu s` is the process CPU time of the same (less sensitive to a busy box)
  peak MiB tracemalloc peak of Python allocations during build_plan + sealed, in a separate pass (the
           inventory and advisories, already loaded, are not counted); the process ru_maxrss comes last
Not timed: advisory load (printed apart) and inventory generation.
Targets (issue 14, item 7): 10k assets under 1.0 s, 100k under 8 s on one core, idle, best of 3
(`--repeat`, default 3): PASS/MISS on the wall total and on the CPU total (issue 3's were 2 s and 20 s). The
machine load (os.getloadavg) and the CPUs the process may run on are printed first; the last lines are one
per target of issue 14 item 7 (size, best of N, target, MET/MISSED on the wall time).

Then, in the same run (skip with --no-inventory / --no-waves):
  inventory load   per size, a YAML inventory with group_vars/ written by bench/inventory_scale.py, loaded
                   by us and by `ansible-inventory --list`, fresh processes, interleaved, on the same files
                   (target, issue 15: at least 4x faster; --inventory-sizes 10000 for that figure alone)
  wave staging     bench/wave_scale.py's generated plan of 10k and 100k assets staged into waves
                   (target, issue 14: 10k under 0.8 s)
Prints only: no asserts on time.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from otorchestrator.intake.csaf import load_advisories
from otorchestrator.models.advisory import Advisory
from otorchestrator.models.asset import PURDUE_LEVELS, Asset, Criticality, InstalledProduct, Inventory, Role
from otorchestrator.models.catalog import Catalog, Patch, Qualification
from otorchestrator.planning.match import build_index
from otorchestrator.planning.plan import PlanInputs, build_plan
from otorchestrator.planning.versions import parse_spec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling benches, reused (not copied)

import inventory_scale  # noqa: E402
import wave_scale  # noqa: E402

DEFAULT_CSAF = HERE.parents[1] / "shared" / "data" / "csaf"
ZONES = ("cell-a", "cell-b", "supervisory", "site-operations", "idmz", "sis", "engineering")


def product_pool(advisories: tuple[Advisory, ...]) -> tuple[list[InstalledProduct], Catalog]:
    pool: list[InstalledProduct] = []
    patches: dict[tuple[str, str], Patch] = {}
    seen: set[tuple[str, str]] = set()
    for advisory in advisories:
        cves = sorted({v.cve for v in advisory.vulnerabilities if v.cve})
        for rule in advisory.products:
            bound = parse_spec(rule.version).upper_bound()
            if rule.vendor is None or bound is None:
                continue
            pool.append(InstalledProduct(vendor=rule.vendor, product=rule.product, version="0.1"))  # affected
            pool.append(
                InstalledProduct(vendor=rule.vendor, product=rule.product, version=bound.raw)
            )  # fixed
            key = (rule.vendor, rule.product)
            if key in seen:
                continue
            seen.add(key)
            if len(seen) % 5 != 0:  # every 5th product: no patch in the catalog
                patches[key] = Patch(
                    id=f"BENCH-{len(patches):05d}",
                    vendor=rule.vendor,
                    product=rule.product,
                    fixed_version=bound.raw,
                    target_version=bound.raw,
                    qualification=list(Qualification)[len(patches) % 4],
                    fixes=tuple(cves),
                )
    pool += [InstalledProduct(vendor="Nobody Ltd", product=f"Tool {i}", version="1.0") for i in range(50)]
    return pool, Catalog(source="bench", patches=tuple(patches.values()))


def assets(n: int, pool: list[InstalledProduct], seed: int = 7) -> tuple[Asset, ...]:
    rng = random.Random(seed)
    return tuple(
        Asset(
            name=f"host-{i:06d}",
            site="bench",
            zone=rng.choice(ZONES),
            purdue_level=rng.choice(PURDUE_LEVELS[:5]),
            role=rng.choice(list(Role)),
            criticality=rng.choice(list(Criticality)),
            safety_system=rng.random() < 0.03,
            installed_products=tuple(rng.sample(pool, 3)),
        )
        for i in range(n)
    )


TARGETS = {10_000: 1.0, 100_000: 8.0}


@dataclass(frozen=True)
class Figures:
    items: int
    unpatched: int
    plan_s: float
    hash_s: float
    cpu_s: float

    @property
    def total_s(self) -> float:
        return self.plan_s + self.hash_s


def measure(inputs: PlanInputs, now: datetime) -> Figures:
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    built = build_plan(inputs, now)
    t1 = time.perf_counter()
    plan = built.sealed()
    t2, c2 = time.perf_counter(), time.process_time()
    return Figures(len(plan.items), len(plan.unpatched), t1 - t0, t2 - t1, c2 - c0)


def peak_mib(inputs: PlanInputs, now: datetime) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        build_plan(inputs, now).sealed()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def verdict(size: int, figures: Figures) -> str:
    limit = TARGETS.get(size)
    if limit is None:
        return "-"
    wall = "PASS" if figures.total_s < limit else "MISS"
    cpu = "PASS" if figures.cpu_s < limit else "MISS"
    return f"< {limit:g} s: wall {wall}, cpu {cpu}"


def inventory_load(sizes: list[int], repeat: int) -> None:
    """Our inventory load vs `ansible-inventory --list`, same generated files, fresh processes, interleaved
    (bench/inventory_scale.py prints the figures and the issue 15 target line); at least 2 repetitions."""
    print(
        "\ninventory load (YAML + group_vars/ from bench/inventory_scale.py; "
        f"{inventory_scale.ANSIBLE_INVENTORY}):"
    )
    with tempfile.TemporaryDirectory(prefix="otorch-plan-bench-") as tmp:
        for size in sizes:
            directory = Path(tmp) / f"inv{size}"
            inventory_scale.generate(directory, size)
            inventory_scale.report(size, inventory_scale.compare(directory, max(2, repeat)))  # both orders


def wave_staging(sizes: list[int], repeat: int) -> dict[int, float]:
    """bench/wave_scale.py's plan and policy, staged; it prints one line per size. The best wall time
    per size (sizes above 10k are staged once)."""
    print("\nwave staging (bench/wave_scale.py's generated plan; target 10k under 0.8 s):")
    return {size: wave_scale.bench(size, repeat if size <= 10_000 else 1) for size in sizes}


def target_line(what: str, repeat: int, wall: float | None, cpu: float | None, limit: float) -> str:
    """`what: best of N <wall> s wall (<cpu> s cpu); target < <limit> s: MET|MISSED` (on the wall time)."""
    if wall is None:
        return f"  {what}: not measured (see --sizes / --wave-sizes / --no-waves); target < {limit:g} s"
    spent = f" ({cpu:.2f} s cpu)" if cpu is not None else ""
    verdict = "MET" if wall < limit else "MISSED"
    return f"  {what}: best of {repeat} {wall:.2f} s wall{spent}; target < {limit:g} s: {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csaf", type=Path, default=DEFAULT_CSAF)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per size; the fastest is shown")
    parser.add_argument("--no-memory", action="store_true", help="skip the (slower) tracemalloc pass")
    parser.add_argument("--no-inventory", action="store_true", help="skip the inventory load comparison")
    parser.add_argument("--inventory-sizes", help="sizes for the inventory load (default: --sizes)")
    parser.add_argument("--no-waves", action="store_true", help="skip wave staging")
    parser.add_argument("--wave-sizes", default="10000,100000", help="sizes for wave staging")
    args = parser.parse_args()
    if not args.csaf.is_dir():
        raise SystemExit(f"CSAF corpus not found at {args.csaf}")
    started_load = load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cpus = sorted(os.sched_getaffinity(0))
    print(f"load average (1/5/15 min): {load}; {os.cpu_count()} CPUs, this process may run on {cpus}")
    started = time.perf_counter()
    advisories, problems = load_advisories([args.csaf])
    print(
        f"advisories: {len(advisories)} read ({len(problems)} problems) "
        f"in {time.perf_counter() - started:.2f} s (not timed below)"
    )
    started = time.perf_counter()
    build_index(advisories)
    print(f"advisory index alone: {time.perf_counter() - started:.2f} s (built inside every `plan s` below)")
    pool, catalog = product_pool(advisories)
    print(f"product pool: {len(pool)} installed-product variants; catalog: {len(catalog.patches)} patches")
    print(
        f"{'assets':>8} {'items':>8} {'unpatched':>9} {'plan s':>7} {'hash s':>7} {'total s':>7} "
        f"{'cpu s':>7} {'peak MiB':>8}  target"
    )
    now = datetime(2026, 3, 10, tzinfo=UTC)
    repeat = max(1, args.repeat)
    planned: dict[int, Figures] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        inventory = Inventory(source="bench", assets=assets(size, pool))
        inputs = PlanInputs(inventory=inventory, advisories=advisories, catalog=catalog)
        figures = planned[size] = min((measure(inputs, now) for _ in range(repeat)), key=lambda f: f.total_s)
        peak = "-" if args.no_memory else f"{peak_mib(inputs, now):.0f}"
        print(
            f"{size:>8} {figures.items:>8} {figures.unpatched:>9} {figures.plan_s:>7.2f} "
            f"{figures.hash_s:>7.2f} {figures.total_s:>7.2f} {figures.cpu_s:>7.2f} {peak:>8}  "
            f"{verdict(size, figures)}",
            flush=True,
        )
    if not args.no_inventory:
        inventory_load([int(s) for s in (args.inventory_sizes or args.sizes).split(",")], max(1, args.repeat))
    staged = {} if args.no_waves else wave_staging([int(s) for s in args.wave_sizes.split(",")], repeat)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"process ru_maxrss (everything, incl. inventories and advisories): {rss:.0f} MiB; load now: {load}"
    )
    one_core = "" if len(cpus) == 1 else f"; NOT one core: may run on CPUs {cpus} (use taskset -c 0)"
    print(f"\ntargets (issue 14 item 7: one core, idle, best of 3; load at start {started_load}{one_core}):")
    for size, limit in TARGETS.items():
        found = planned.get(size)
        wall, cpu = (found.total_s, found.cpu_s) if found else (None, None)
        print(target_line(f"{size // 1000}k assets plan + content hash", repeat, wall, cpu, limit))
    print(target_line("10k assets wave staging", repeat, staged.get(10_000), None, wave_scale.TARGET))


if __name__ == "__main__":
    main()
