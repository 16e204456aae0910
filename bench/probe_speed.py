"""Host-side cost of the roles' probe modules, one version against another (issue 12 item 8).

For each side (a git revision, default main, and the work tree) the modules ot_diagnostics_probe,
ot_verify_probe and ot_backup_snapshot with roles/ot_common/module_utils are built into their AnsiballZ
payloads by Ansible itself: one ad-hoc run per module against a lab host, pipelining off and
ANSIBLE_KEEP_REMOTE_FILES=1, so the payload (wrapper, zipped module_utils, the module's arguments) stays on
the host. The arguments are what the roles pass for that host: its catalog entries (inventories/lab), the
roles' defaults. Then, on the host (podman exec into the lab container), the payloads run alternately, the
order of the sides rotating with each repetition: `python3 AnsiballZ_<module>.py`, as Ansible runs it,
timed by the host's clock (wall) and its RUSAGE_CHILDREN (CPU: the module and every command it starts).
ot_backup_snapshot's remote directory (one per side) is removed before each of its runs, untimed, so
every run records a new archive as a backup does.

Per module and side: wall median [min-max], CPU median, and the ratio of the medians (work tree / base);
the load average before and after (the lab containers share this machine's cores). Prints only.

    python bench/probe_speed.py                          # nw-hmi-02, base main, 15 repetitions
    python bench/probe_speed.py --base afd2335 --host nw-gw-01 --reps 21 --json out/probe_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODULES = {
    "ot_diagnostics_probe": "ot_diagnostics",
    "ot_verify_probe": "ot_verify",
    "ot_backup_snapshot": "ot_backup",
}
MODULE_UTILS = "roles/ot_common/module_utils"  # every file of it at the side's revision
SIDES = ("base", "work")
PAYLOAD = re.compile(r" TO (/\S+/AnsiballZ_(\w+)\.py)")

# Runs on the host (python3 -): alternates the payloads, prints one JSON line per run.
RUNNER = r"""
import json, resource, shutil, subprocess, sys, time
plan = json.loads(sys.argv[1])
for rep in range(plan["reps"]):
    sides = plan["sides"] if rep % 2 == 0 else plan["sides"][::-1]
    for module in plan["modules"]:
        for side in sides:
            job = plan["jobs"][side][module]
            for path in job.get("remove", []):
                shutil.rmtree(path, ignore_errors=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run(["/usr/bin/python3", job["payload"]], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            try:
                failed = bool(json.loads(proc.stdout.decode()).get("failed"))
            except ValueError:
                failed = True
            print(json.dumps({"rep": rep, "module": module, "side": side, "wall": wall, "cpu": cpu,
                              "ok": proc.returncode == 0 and not failed}), flush=True)
"""


def _run(argv: list[str], **kw: Any) -> str:
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def host_vars(host: str) -> dict[str, Any]:
    return dict(json.loads(_run(["ansible-inventory", "-i", str(ROOT / "inventories/lab"), "--host", host])))


def catalog_entries(installed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import yaml

    catalog = yaml.safe_load((ROOT / "inventories/lab/catalog.yml").read_text())["patches"]
    packages = [p.get("package") for p in installed]
    return [e for e in catalog if e.get("package") in packages]


def module_args(module: str, host: str, patches: list[dict[str, Any]], side: str) -> dict[str, Any]:
    """What the role passes for this host (the roles' defaults, its catalog entries)."""
    if module == "ot_diagnostics_probe":
        return {
            "patches": patches,
            "default_required_free_mb": {"/var/cache/apt/archives": 100, "/usr": 100, "/opt": 100},
            "default_install_root_free_mb": 100,
            "min_memory_mb": 64,
            "check_repo": True,
            "repo_sourcelist": "sources.list.d/nwc.list",
            "fail_on_pending_reboot": True,
            "lock_files": [
                "/var/lib/dpkg/lock-frontend",
                "/var/lib/dpkg/lock",
                "/var/cache/apt/archives/lock",
                "/var/lib/apt/lists/lock",
            ],
            "extra_services": [],
        }
    if module == "ot_verify_probe":
        return {"patches": patches, "port_timeout": 5, "health_timeout": 15, "extra_checks": []}
    return {
        "backup_id": "probe-speed",
        "host": host,
        "remote_dir": remote_dir(side),
        "packages": [p["package"] for p in patches],
        "files": [f for p in patches for f in p.get("config_files", [])],
        "services": [s for p in patches for s in p.get("services", [])],
        "store_manifest": "",
        "store_dir": "/var/tmp/otorch-probe-speed-store",
    }


def remote_dir(side: str) -> str:
    return f"/var/tmp/otorch-probe-speed-{side}"


def side_tree(side: str, base: str, into: Path) -> Path:
    """library/ and module_utils/ of one side (a git revision's files, or the work tree's)."""
    tree = into / side
    (tree / "library").mkdir(parents=True)
    (tree / "module_utils").mkdir()
    paths = [
        (f"roles/{role}/library/{name}.py", tree / "library" / f"{name}.py") for name, role in MODULES.items()
    ]
    paths += [
        (f"{MODULE_UTILS}/{name}", tree / "module_utils" / name) for name in module_utils_files(side, base)
    ]
    for src, dst in paths:
        text = (
            _run(["git", "-C", str(ROOT), "show", f"{base}:{src}"])
            if side == "base"
            else (ROOT / src).read_text()
        )
        dst.write_text(text)
    return tree


def module_utils_files(side: str, base: str) -> list[str]:
    """The .py files of roles/ot_common/module_utils at the base revision, or in the work tree."""
    if side == "base":
        listed = _run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{base}:{MODULE_UTILS}"])
        return [n for n in listed.split() if n.endswith(".py")]
    return sorted(p.name for p in (ROOT / MODULE_UTILS).glob("*.py"))


def build_payload(host: str, tree: Path, module: str, args: dict[str, Any]) -> str:
    """The AnsiballZ payload path Ansible left on the host for one run of ``module``."""
    env = dict(
        os.environ,
        ANSIBLE_KEEP_REMOTE_FILES="1",
        ANSIBLE_PIPELINING="0",
        ANSIBLE_LIBRARY=str(tree / "library"),
        ANSIBLE_MODULE_UTILS=str(tree / "module_utils"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
    )
    out = subprocess.run(
        ["ansible", host, "-i", str(ROOT / "inventories/lab"), "-m", module, "-a", json.dumps(args), "-vvv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    ).stdout
    for m in PAYLOAD.finditer(out):
        if m.group(2) == module:
            return m.group(1)
    raise SystemExit(f"no AnsiballZ payload of {module} in the ad-hoc run's output:\n{out[-3000:]}")


def summary(rows: list[dict[str, Any]], modules: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for module in modules:
        per: dict[str, Any] = {}
        for side in SIDES:
            mine = [r for r in rows if r["module"] == module and r["side"] == side]
            walls, cpus = sorted(r["wall"] for r in mine), sorted(r["cpu"] for r in mine)
            per[side] = {
                "wall_median": statistics.median(walls),
                "wall_min": walls[0],
                "wall_max": walls[-1],
                "cpu_median": statistics.median(cpus),
                "runs": len(mine),
                "failed": sum(1 for r in mine if not r["ok"]),
            }
        per["wall_ratio"] = per["work"]["wall_median"] / per["base"]["wall_median"]
        per["cpu_ratio"] = per["work"]["cpu_median"] / per["base"]["cpu_median"]
        out[module] = per
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="git revision of the base side (default main)")
    parser.add_argument("--host", default="nw-hmi-02", help="lab host (inventories/lab)")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--modules", default=",".join(MODULES))
    parser.add_argument("--json", type=Path, help="also write the runs and the summary here")
    args = parser.parse_args()
    modules = [m for m in args.modules.split(",") if m]
    hv = host_vars(args.host)
    patches = catalog_entries(hv.get("ot_installed_products") or [])
    container = f"{os.environ.get('OTORCH_LAB_NAME') or 'otlab'}-{args.host}"
    base = _run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base]).strip()
    packages = [p["package"] for p in patches]
    print(f"host {args.host} ({container}), packages {packages}, base {base} vs work tree")
    jobs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="otbench-probes-") as tmp:
        for side in SIDES:
            tree = side_tree(side, args.base, Path(tmp))
            jobs[side] = {}
            for module in modules:
                payload = build_payload(
                    args.host, tree, module, module_args(module, args.host, patches, side)
                )
                remove = [remote_dir(side)] if module == "ot_backup_snapshot" else []
                jobs[side][module] = {"payload": payload, "remove": remove}
    plan = {"reps": args.reps, "sides": list(SIDES), "modules": modules, "jobs": jobs}
    load_before = os.getloadavg()
    out = subprocess.run(
        ["podman", "exec", "-i", container, "python3", "-", json.dumps(plan)],
        input=RUNNER,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout
    load_after = os.getloadavg()
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    result = summary(rows, modules)
    print(
        f"{args.reps} repetitions, interleaved; load average before {load_before[0]:.2f} "
        f"{load_before[1]:.2f} {load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
        f"{load_after[2]:.2f} (2 cores)"
    )
    for module, per in result.items():
        for side in SIDES:
            s = per[side]
            print(
                f"  {module:22} {side} ({base if side == 'base' else 'work tree'}): wall median "
                f"{s['wall_median']:.3f} s [{s['wall_min']:.3f}-{s['wall_max']:.3f}], CPU median "
                f"{s['cpu_median']:.3f} s, {s['runs']} runs, {s['failed']} failed"
            )
        print(f"  {module:22} work/base: wall {per['wall_ratio']:.2f}, CPU {per['cpu_ratio']:.2f}")
    for side in SIDES:
        dirs = [os.path.dirname(j["payload"]) for j in jobs[side].values()]
        subprocess.run(["podman", "exec", container, "rm", "-rf", remote_dir(side), *dirs], check=False)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "base": base,
                    "host": args.host,
                    "load_before": load_before,
                    "load_after": load_after,
                    "runs": rows,
                    "summary": result,
                },
                indent=2,
            )
        )
    sys.exit(1 if any(per[s]["failed"] for per in result.values() for s in SIDES) else 0)


if __name__ == "__main__":
    main()
