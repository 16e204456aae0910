"""Overhead of otorch over plain ansible-playbook: the same hosts, playbooks, variables, inventory and ssh
sockets on both sides, interleaved.

Each repetition runs the same two waves (the hosts split in halves; per wave: diagnostics, backup, install,
verify) once with plain `ansible-playbook` and once with `otorch run` (the CLI: state store and audit log
written before every step), alternating which goes first; every host is recreated at its baseline before
every run (`otorch lab reset`, untimed). Alike on both sides:

* the project's playbooks and ansible.cfg, the variables otorch's engine gives each phase;
* the inventory: one `ansible-inventory --list` of the lab inventory per run, from which each phase gets an
  inventory holding only the wave's hosts (what otorch's backend does; the plain side used to parse the
  whole inventory and `--limit` it on every phase);
* the ssh sockets: a fresh ControlPath directory per phase run, its masters closed after it (the plain side
  used to share ~/.ansible/cp across phases and runs).

Prints per repetition: wall time, controller CPU seconds (user+sys of every process the bench waited for:
RUSAGE_CHILDREN deltas; detached ssh masters are not counted on either side), the lab hosts' CPU seconds
(their containers' `podman stats` cpu_time before and after), the load average, the paired
ratio otorch/plain, and otorch's gap between waves (wave 0's last task end to wave 1's first task start, from
its job events); then the medians with ranges. Targets: ratio <= 1.10, gap < 1 s. Print only, no asserts.

    python bench/wave_overhead.py --hosts 4 --reps 4 [--json out/wave_overhead.json]

A repetition in which a side did not end with every host succeeded is reported and left out.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_MAGIC = re.compile(r"\{\{\s*(inventory_dir|inventory_file)\s*\}\}")
PHASES = ("diagnostics", "backup", "install", "verify")


# ------------------------------------------------------------------------------------------- pure part
def resolve_magic(value: Any, inv_dir: str) -> Any:
    """{{ inventory_dir }} / {{ inventory_file }} in host vars: the source inventory's directory."""
    if isinstance(value, str):
        return _MAGIC.sub(inv_dir, value)
    if isinstance(value, dict):
        return {k: resolve_magic(v, inv_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_magic(v, inv_dir) for v in value]
    return value


def wave_inventory(listing: Mapping[str, Any], hosts: Sequence[str], inv_dir: str) -> dict[str, Any]:
    """An inventory of only `hosts` from an `ansible-inventory --list` of the source: their merged vars and
    the groups they are in (as otorch's backend writes one per phase run)."""
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    chosen = {h: resolve_magic(dict(hostvars.get(h, {})), inv_dir) for h in hosts}
    children = {}
    for group, body in listing.items():
        if group in ("_meta", "all", "ungrouped") or not isinstance(body, Mapping):
            continue
        members = [h for h in body.get("hosts", []) if h in chosen]
        if members:
            children[group] = {"hosts": dict.fromkeys(members)}
    return {"all": {"hosts": chosen, "children": children}}


def inter_wave_gap(results: Sequence[Any], first: Sequence[str], second: Sequence[str]) -> float | None:
    """Seconds from the first wave's last task end to the second wave's first task start (task results of
    bench/wave_speed.py), None when either wave has no task."""
    ends = [r.end for r in results if r.host in set(first)]
    starts = [r.start for r in results if r.host in set(second)]
    return min(starts) - max(ends) if ends and starts else None


def median_range(values: Sequence[float], digits: int = 3, unit: str = "") -> str:
    if not values:
        return "-"
    text = f"{statistics.median(values):.{digits}f}{unit}"
    return text if len(values) == 1 else f"{text} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


# ------------------------------------------------------------------------------------------- effects
def run_plain(lab: Any, plan: Any, work: Path) -> str:
    """Both waves with plain ansible-playbook; returns what went wrong ("" when every phase passed)."""
    from baseline import awx_style

    from otorchestrator.execution.vars import phase_extravars
    from otorchestrator.models.results import Phase

    env = lab.env()
    # what otorch's backend sets for its jobs (execution/jobenv.py RUN_OVERRIDES)
    env.update(ANSIBLE_ROLES_PATH=str(_root() / "roles"), ANSIBLE_RETRY_FILES_ENABLED="False")
    env.update(ANSIBLE_TASK_TIMEOUT="600", ANSIBLE_CHECK_MODE_MARKERS="True")
    listed = subprocess.run(
        ["ansible-inventory", "-i", str(lab.inventory), "--list"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    listing = json.loads(listed.stdout)
    patches = plan.patch_map()
    backups = (work / "plain-backups").resolve()
    for wave in plan.waves:
        names = [h.name for h in wave.hosts]
        for phase in PHASES:
            step = work / f"w{wave.index}-{phase}"
            step.mkdir(parents=True)
            (step / "hosts.json").write_text(json.dumps(wave_inventory(listing, names, str(lab.inventory))))
            extravars = phase_extravars(Phase(phase), wave.hosts, patches, run_id="plain")
            extravars.update(otorch_backup_store_dir=str(backups), otorch_backup_id=f"plain-w{wave.index}")
            (step / "vars.json").write_text(json.dumps(extravars))
            cp_dir = Path(tempfile.mkdtemp(prefix="otplain-cp-"))
            try:
                done = subprocess.run(
                    ["ansible-playbook", "-i", str(step / "hosts.json"),
                     str(_root() / "playbooks" / f"{phase}.yml"), "-e", f"@{step / 'vars.json'}"],
                    env={**env, "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp_dir)},
                    cwd=_root(), capture_output=True, text=True, check=False,
                )  # fmt: skip
            finally:
                awx_style.close_masters(cp_dir)
            if done.returncode != 0:
                return (
                    f"wave {wave.index} {phase}: ansible-playbook rc {done.returncode}: {done.stdout[-400:]}"
                )
    return ""


def _root() -> Path:
    return Path(__file__).resolve().parents[1]


def run_otorch(lab: Any, plan: Any, work: Path) -> tuple[str, float | None]:
    """Both waves with `otorch run`; returns (what went wrong, the gap between the waves)."""
    from baseline import harness
    from wave_speed import task_results

    plan_file = work / "waves.json"
    plan_file.write_text(plan.model_dump_json(indent=1))
    done = subprocess.run(
        harness.otorch_run_cmd(lab, plan_file, work / "state"),
        env=lab.env(), cwd=work, capture_output=True, text=True, check=False,
    )  # fmt: skip
    results = task_results(harness.read_events(work / "state"))
    first, second = ([h.name for h in w.hosts] for w in plan.waves)
    return harness.engine_problem(done), inter_wave_gap(results, first, second)


def main(argv: Sequence[str] | None = None) -> int:
    from baseline import harness
    from wave_speed import cpu_now, load_now

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=4, help="hosts with a clean upgrade, 2 or more")
    parser.add_argument("--reps", type=int, default=4, help="repetitions (each: plain and otorch)")
    parser.add_argument("--quick", action="store_true", help="2 hosts, 2 repetitions")
    parser.add_argument("--json", metavar="FILE", help="also write the repetitions as JSON ('-': stdout)")
    args = parser.parse_args(argv)
    count, reps = (2, 2) if args.quick else (args.hosts, args.reps)
    if count < 2:
        parser.error("--hosts: two waves need at least 2 hosts")
    lab = harness.Lab.start(count)
    chosen = harness.wave_hosts(lab.hosts, count)
    names = [n for n, _ in chosen]
    containers = [lab.cfg.container(n) for n in names]
    print(f"lab {lab.cfg.name!r}, inventory {lab.inventory}; hosts: {', '.join(names)}; reps: {reps}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="otoverhead-") as tmp:
        for rep in range(reps):
            plan = harness.build_plan(lab, chosen, waves=2)
            row: dict[str, Any] = {
                "rep": rep + 1,
                "first": "plain" if rep % 2 == 0 else "otorch",
                "problems": [],
            }
            for side in ("plain", "otorch") if rep % 2 == 0 else ("otorch", "plain"):
                lab.reset(names)
                work = Path(tmp) / f"{rep}-{side}"
                work.mkdir()
                before = harness.podman_usage(containers)
                load, t0, c0 = load_now(), time.monotonic(), cpu_now()
                if side == "plain":
                    problem = run_plain(lab, plan, work)
                else:
                    problem, row["gap_s"] = run_otorch(lab, plan, work)
                row[side] = {"wall_s": time.monotonic() - t0, "cpu_s": cpu_now() - c0, "load1": load[0]}
                row[side]["lab_cpu_s"] = harness.lab_cpu(before, harness.podman_usage(containers))
                if problem:
                    row["problems"].append(f"{side}: {problem}")
            row["ratio"] = row["otorch"]["wall_s"] / row["plain"]["wall_s"]
            row["cpu_ratio"] = row["otorch"]["cpu_s"] / row["plain"]["cpu_s"]
            rows.append(row)
            gap = f"{row['gap_s']:.3f}s" if row.get("gap_s") is not None else "n/a"
            print(
                f"rep {rep + 1} ({row['first']} first): plain {row['plain']['wall_s']:.1f}s CPU "
                f"{row['plain']['cpu_s']:.1f}s lab CPU {row['plain']['lab_cpu_s']:.1f}s load "
                f"{row['plain']['load1']:.2f} | otorch {row['otorch']['wall_s']:.1f}s CPU "
                f"{row['otorch']['cpu_s']:.1f}s lab CPU {row['otorch']['lab_cpu_s']:.1f}s load "
                f"{row['otorch']['load1']:.2f} | ratio {row['ratio']:.3f} CPU ratio {row['cpu_ratio']:.3f}"
                f" | gap between waves {gap}",
                flush=True,
            )
            for problem in row["problems"]:
                print(f"WARNING: rep {rep + 1} left out: {problem[:400]}", file=sys.stderr)
        lab.reset(names)
    good = [r for r in rows if not r["problems"]]
    loads = [r[s]["load1"] for r in good for s in ("plain", "otorch")]
    low, high = min(loads, default=0), max(loads, default=0)
    print(
        f"over {len(good)} of {len(rows)} rep(s), load {low:.1f}-{high:.1f}: "
        f"ratio otorch/plain {median_range([r['ratio'] for r in good])} (target <= 1.10); CPU ratio "
        f"{median_range([r['cpu_ratio'] for r in good])}; gap between waves "
        f"{median_range([r['gap_s'] for r in good if r.get('gap_s') is not None], unit='s')} (target < 1 s)"
    )
    if args.json:
        doc = json.dumps({"hosts": names, "reps": rows}, indent=1)
        if args.json == "-":
            print(doc)
        else:
            Path(args.json).write_text(doc + "\n")
    return 0 if good else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
