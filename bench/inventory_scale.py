"""Inventory intake at scale: our load (Ansible's reading + OT validation) vs `ansible-inventory --list`.

Print-only (no asserts). Per size (default 10,000 assets) it writes a YAML inventory with group_vars/ into
a temporary directory and runs on the same files, each as a fresh process (interpreter start and imports
included), interleaved (repetition i in the order below, i+1 reversed):

  ours     `python -c "load_inventory(DIR)"`: Ansible's parse, variable composition for every host,
           validation into Asset models (the lean path on a proven ansible-core release)
  ansible  `ansible-inventory -i DIR --list` (output to a pipe, discarded)
  public   with --public: our load through public ansible-core APIs only (what a release outside
           ansible_private.PROVEN_RELEASES gets: VariableManager.get_vars per host)

It prints wall and child CPU (user + system) medians with their ranges, the ratio ansible / ours of the
medians (and per repetition), the load average, and a MET/MISSED line for issue 15's target (ours at
least 4x faster, median wall). About 2 minutes on 2 idle CPUs:

    .venv/bin/python bench/inventory_scale.py [--sizes 10000] [--repeat 3] [--public] [--explain 10000]

`--explain N` also times, in this process on N assets, where ansible-inventory's time goes: one parse of
hosts.yml with Ansible's tagged YAML loader, the deepcopy DataLoader makes of it, the same parse with plain
yaml.CSafeLoader, and InventoryManager + VariableManager.get_vars() for every host (ansible-inventory's
path) vs our lean path over the same functions (otorchestrator/intake/ansible_compose.py).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

ROLES = ["hmi", "scada_server", "historian", "engineering_workstation", "gateway", "server"]
CRITICALITY = ["low", "medium", "high", "critical"]
PRODUCTS = {
    "hmi": ("NWC HMI Runtime", "nwc-hmi-runtime"),
    "scada_server": ("NWC SCADA Server", "nwc-scada-server"),
    "historian": ("NWC Historian", "nwc-historian"),
    "engineering_workstation": ("NWC Engineering Suite", "nwc-eng-suite"),
    "gateway": ("NWC Protocol Gateway", "nwc-gateway"),
    "server": ("NWC Drill Agent", "nwc-drill-agent"),
}
HOSTS_PER_ZONE = 50
ZONES_PER_SITE = 20


def generate(directory: Path, count: int) -> None:
    """hosts.yml (sites -> zones -> hosts with host vars), group_vars/all.yml, a group_vars file per group."""
    group_vars = directory / "group_vars"
    group_vars.mkdir(parents=True)
    (group_vars / "all.yml").write_text(
        'ot_os: {family: debian, version: "12"}\n'
        "ot_maintenance_windows:\n"
        '  - {days: [sat], start: "22:00", duration_minutes: 360, timezone: Europe/Berlin}\n'
        "ansible_user: root\n"
        'ansible_ssh_private_key_file: "{{ inventory_dir }}/keys/id_ed25519"\n'
    )
    lines = ["all:", "  children:"]
    zones = (count + HOSTS_PER_ZONE - 1) // HOSTS_PER_ZONE
    sites = (zones + ZONES_PER_SITE - 1) // ZONES_PER_SITE
    host = 0
    for s in range(sites):
        site = f"site_{s:03d}"
        (group_vars / f"{site}.yml").write_text(f"ot_site: plant-{s:03d}\n")
        lines += [f"    {site}:", "      children:"]
        for z in range(ZONES_PER_SITE):
            if host >= count:
                break
            zone = f"{site}_zone_{z:02d}"
            level = [1, 2, 2, 3, 3.5][z % 5]
            (group_vars / f"{zone}.yml").write_text(f"ot_zone: zone-{z:02d}\not_purdue_level: {level}\n")
            lines += [f"        {zone}:", "          hosts:"]
            for _ in range(HOSTS_PER_ZONE):
                if host >= count:
                    break
                role = ROLES[host % len(ROLES)]
                product, package = PRODUCTS[role]
                lines += [
                    f"            h{host:06d}:",
                    f"              ansible_host: 10.{host // 65536 % 256}.{host // 256 % 256}.{host % 256}",
                    f"              ot_role: {role}",
                    f"              ot_criticality: {CRITICALITY[host % 4]}",
                    "              ot_installed_products:",
                    "                - {vendor: Northwind Controls, "
                    f'product: {product}, version: "1.0.0", package: {package}}}',
                ]
                if role == "scada_server":
                    lines.append(f"              ot_redundancy_group: {zone}-scada")
                host += 1
    (directory / "hosts.yml").write_text("\n".join(lines) + "\n")


def explain(directory: Path) -> None:
    import copy

    import yaml
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.utils.yaml import from_yaml
    from ansible.vars.manager import VariableManager

    from otorchestrator.intake.ansible_source import host_variables

    text = (directory / "hosts.yml").read_text()

    def timed(label: str, action: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = action()
        print(f"  {label:<58} {time.perf_counter() - start:8.2f}s")
        return result

    print(f"where the time goes ({len(text) / 1e6:.1f} MB hosts.yml):")
    name = str(directory / "hosts.yml")
    data = timed("hosts.yml parsed by Ansible's loader (tagged, 2.19)", lambda: from_yaml(text, name))
    timed("  deepcopy of that parse (DataLoader, cache='none')", lambda: copy.deepcopy(data))
    timed("  same text with plain yaml.CSafeLoader", lambda: yaml.load(text, Loader=yaml.CSafeLoader))

    def ansible_path() -> None:
        loader = DataLoader()
        manager = InventoryManager(loader=loader, sources=[str(directory)])
        start = time.perf_counter()
        variables = VariableManager(loader=loader, inventory=manager)
        for host in manager.get_hosts("all"):
            variables.get_vars(host=host, include_hostvars=False, stage="all")
        print(f"    of which VariableManager.get_vars for every host {time.perf_counter() - start:17.2f}s")

    timed("InventoryManager + get_vars per host (ansible-inventory)", ansible_path)
    timed("lean path (same functions, no redundant parse/copy)", lambda: list(host_variables([directory])))


ANSIBLE_INVENTORY = (
    shutil.which("ansible-inventory", path=str(Path(sys.executable).parent)) or "ansible-inventory"
)
TARGET = 4.0  # issue 15 item 5: at least 4x faster than `ansible-inventory --list`
TARGET_SIZE = 10_000  # on bench/plan_scale.py's 10k inventory
_LOAD_SNIPPET = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from otorchestrator.intake.inventory import load_inventory; "
    "print(len(load_inventory({path!r}).assets))"
)
_PUBLIC_SNIPPET = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from otorchestrator.intake.ansible_source import read_ansible_inventory; "
    "from otorchestrator.intake.inventory import inventory_from_raw; "
    "raw = read_ansible_inventory([{path!r}], public_only=True); "
    "print(len(inventory_from_raw(raw).raise_on_error().assets))"
)


def commands(directory: Path, public: bool) -> dict[str, list[str]]:
    """The variants, each a fresh process: interpreter start, imports, reading (and for ours validation)."""
    found = {
        "ours": [sys.executable, "-c", _LOAD_SNIPPET.format(root=str(ROOT), path=str(directory))],
        "ansible": [ANSIBLE_INVENTORY, "-i", str(directory), "--list"],
    }
    if public:
        found["public"] = [sys.executable, "-c", _PUBLIC_SNIPPET.format(root=str(ROOT), path=str(directory))]
    return found


@dataclass
class Runs:
    """Wall and CPU (user + system of the child) seconds of each run of one variant."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    output: str = ""


def run(command: list[str]) -> tuple[float, float, str]:
    """(wall s, child CPU s, stdout) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    wall_s = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall_s, cpu_s, done.stdout.decode(errors="replace").strip()


def compare(directory: Path, repeat: int, *, public: bool = False) -> dict[str, Runs]:
    """Every variant `repeat` times on the inventory in `directory`, interleaved: repetition i runs the
    variants in order, i+1 in reverse, so a change of machine load falls on both sides."""
    variants = commands(directory, public)
    runs = {name: Runs() for name in variants}
    for rep in range(repeat):
        order = list(variants) if rep % 2 == 0 else list(reversed(variants))
        for name in order:
            wall_s, cpu_s, output = run(variants[name])
            runs[name].wall.append(wall_s)
            runs[name].cpu.append(cpu_s)
            runs[name].output = output if name != "ansible" else ""
    return runs


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f}s [{min(values):.2f}-{max(values):.2f}]"


def report(size: int, runs: dict[str, Runs]) -> None:
    """Print the figures of one size, and on TARGET_SIZE the verdict (median wall ratio against TARGET)."""
    print(f"{size} assets generated; ours loaded {runs['ours'].output} assets; load now {loadavg()}")
    print(f"  {'variant':<8} {'wall median [range]':>24} {'cpu median [range]':>24}  runs")
    for name, result in runs.items():
        print(f"  {name:<8} {_spread(result.wall):>24} {_spread(result.cpu):>24}  {len(result.wall)}")
    ours, theirs = runs["ours"], runs["ansible"]
    wall_ratio = statistics.median(theirs.wall) / statistics.median(ours.wall)
    cpu_ratio = statistics.median(theirs.cpu) / statistics.median(ours.cpu)
    paired = sorted(t / o for t, o in zip(theirs.wall, ours.wall, strict=True))
    print(
        f"  ansible-inventory --list / ours: wall {wall_ratio:.2f}x (per repetition "
        f"{paired[0]:.2f}-{paired[-1]:.2f}x), cpu {cpu_ratio:.2f}x"
    )
    if "public" in runs:
        public = statistics.median(theirs.wall) / statistics.median(runs["public"].wall)
        print(f"  ansible-inventory --list / public-API path: wall {public:.2f}x")
    if size != TARGET_SIZE:
        print(f"  (issue 15 sets its {TARGET:g}x on {TARGET_SIZE} assets: no verdict at {size})", flush=True)
        return
    verdict = "MET" if wall_ratio >= TARGET else "MISSED"
    print(
        f"  target (issue 15 item 5) ours >= {TARGET:g}x faster than ansible-inventory --list, "
        f"{size} assets: {verdict} (wall {wall_ratio:.2f}x, cpu {cpu_ratio:.2f}x)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000", help="comma-separated asset counts (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--public", action="store_true", help="also the public-API path (fresh process)")
    parser.add_argument("--explain", type=int, default=0, metavar="N", help="break the time down on N assets")
    args = parser.parse_args()
    from ansible.release import __version__

    from otorchestrator.intake.ansible_private import proven

    print(
        f"python {sys.version.split()[0]}, ansible-core {__version__} (lean path: {proven()}), "
        f"ansible-inventory at {ANSIBLE_INVENTORY}, cpus {os.cpu_count()}, load average {loadavg()}"
    )
    with tempfile.TemporaryDirectory(prefix="otorch-bench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            directory = Path(tmp) / f"inv{size}"
            generate(directory, size)
            report(size, compare(directory, max(1, args.repeat), public=args.public))
        if args.explain:
            directory = Path(tmp) / f"explain{args.explain}"
            generate(directory, args.explain)
            explain(directory)


if __name__ == "__main__":
    main()
