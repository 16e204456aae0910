"""Planning time and peak memory for 1k, 10k and 100k generated assets against the real CISA advisories.

    .venv/bin/python bench/plan_scale.py [--csaf ../shared/data/csaf] [--sizes 1000,10000,100000]

Assets carry products drawn from the advisories' own product rules (some affected, some already fixed,
some unknown to every advisory); the catalog has a patch for most affected products. Timed: build_plan
(index, matching, SSVC, ordering; the content hash is shown apart), excluding inventory generation and
advisory load.
Targets (issue 3): 10k assets under 2 s, 100k under 20 s on one core. Prints only.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from otorchestrator.intake.csaf import load_advisories
from otorchestrator.models.advisory import Advisory
from otorchestrator.models.asset import PURDUE_LEVELS, Asset, Criticality, InstalledProduct, Inventory, Role
from otorchestrator.models.catalog import Catalog, Patch, Qualification
from otorchestrator.planning.plan import PlanInputs, build_plan
from otorchestrator.planning.versions import parse_spec

DEFAULT_CSAF = Path(__file__).resolve().parents[2] / "shared" / "data" / "csaf"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csaf", type=Path, default=DEFAULT_CSAF)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--no-memory", action="store_true", help="skip the (slower) tracemalloc pass")
    args = parser.parse_args()
    if not args.csaf.is_dir():
        raise SystemExit(f"CSAF corpus not found at {args.csaf}")
    started = time.perf_counter()
    advisories, problems = load_advisories([args.csaf])
    print(
        f"advisories: {len(advisories)} read ({len(problems)} problems) "
        f"in {time.perf_counter() - started:.2f} s"
    )
    pool, catalog = product_pool(advisories)
    print(f"product pool: {len(pool)} installed-product variants; catalog: {len(catalog.patches)} patches")
    print(f"{'assets':>8} {'items':>8} {'unpatched':>9} {'build s':>8} {'seal s':>7} {'peak MiB':>9}")
    now = datetime(2026, 3, 10, tzinfo=UTC)
    for size in (int(s) for s in args.sizes.split(",")):
        inventory = Inventory(source="bench", assets=assets(size, pool))
        inputs = PlanInputs(inventory=inventory, advisories=advisories, catalog=catalog)
        gc.collect()
        t0 = time.perf_counter()
        built = build_plan(inputs, now)
        elapsed = time.perf_counter() - t0
        t1 = time.perf_counter()
        plan = built.sealed()
        sealing = time.perf_counter() - t1
        peak = "-"
        if not args.no_memory:
            gc.collect()
            tracemalloc.start()
            build_plan(inputs, now)
            peak = f"{tracemalloc.get_traced_memory()[1] / 2**20:.0f}"
            tracemalloc.stop()
        print(
            f"{size:>8} {len(plan.items):>8} {len(plan.unpatched):>9} "
            f"{elapsed:>8.2f} {sealing:>7.2f} {peak:>9}"
        )


if __name__ == "__main__":
    main()
