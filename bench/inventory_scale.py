"""Inventory intake at scale: our load (Ansible's reading + OT validation) vs `ansible-inventory --list`.

Print-only (no asserts). For 1k, 10k and 100k assets it writes a YAML inventory with group_vars/ into a
temporary directory and measures, in the same run and on the same files:

  ours (process)   wall time of `python -c "load_inventory(...)"`: interpreter start, imports, Ansible's
                   parse, variable composition for every host, and validation into Asset models
  ours (in-proc)   the same load inside this process (imports already paid)
  public (in-proc) the same load through public ansible-core APIs only (what an ansible-core release
                   outside ansible_private.PROVEN_RELEASES gets: VariableManager.get_vars per host)
  ansible          wall time of `ansible-inventory -i DIR --list` (output to /dev/null)

    .venv/bin/python bench/inventory_scale.py [--sizes 1000,10000,100000] [--repeat 1] [--explain 10000]

`--explain N` also times, on N assets, where ansible-inventory's time goes: one parse of hosts.yml with
Ansible's tagged YAML loader, the deepcopy DataLoader makes of it, the same parse with plain
yaml.CSafeLoader, and InventoryManager + VariableManager.get_vars() for every host (ansible-inventory's
path) vs our lean path over the same functions (otorchestrator/intake/ansible_compose.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from otorchestrator.intake.inventory import load_inventory  # noqa: E402

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


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def ours_in_process(directory: Path) -> tuple[float, int]:
    start = time.perf_counter()
    inventory = load_inventory(directory)
    return time.perf_counter() - start, len(inventory.assets)


def public_in_process(directory: Path) -> float:
    from otorchestrator.intake.ansible_source import read_ansible_inventory
    from otorchestrator.intake.inventory import inventory_from_raw

    start = time.perf_counter()
    inventory_from_raw(read_ansible_inventory([directory], public_only=True)).raise_on_error()
    return time.perf_counter() - start


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
_LOAD_SNIPPET = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from otorchestrator.intake.inventory import load_inventory; load_inventory({path!r})"
)


def compare(directory: Path, repeat: int) -> tuple[int, float, float, float, float]:
    """(assets loaded, ours in a fresh process, ours in this process, public APIs only in this process,
    `ansible-inventory --list`): the best of `repeat` runs each, in seconds, on the inventory in
    `directory`."""
    load = [sys.executable, "-c", _LOAD_SNIPPET.format(root=str(ROOT), path=str(directory))]
    ours_proc = min(wall(load) for _ in range(repeat))
    in_proc, loaded = min(ours_in_process(directory) for _ in range(repeat))
    public = min(public_in_process(directory) for _ in range(repeat))
    theirs = min(wall([ANSIBLE_INVENTORY, "-i", str(directory), "--list"]) for _ in range(repeat))
    return loaded, ours_proc, in_proc, public, theirs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (the best is printed)")
    parser.add_argument("--explain", type=int, default=0, metavar="N", help="break the time down on N assets")
    args = parser.parse_args()
    from ansible.release import __version__

    from otorchestrator.intake.ansible_private import proven

    print(
        f"python {sys.version.split()[0]}, ansible-core {__version__} (lean path: {proven()}), "
        f"ansible-inventory at {ANSIBLE_INVENTORY}, cpus {os.cpu_count()}"
    )
    print(
        f"{'assets':>8} {'ours (process)':>15} {'ours (in-proc)':>15} {'public (in-proc)':>17} "
        f"{'ansible --list':>15} {'ratio':>7} {'faster':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="otorch-bench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            directory = Path(tmp) / f"inv{size}"
            generate(directory, size)
            loaded, ours_proc, in_proc, public, theirs = compare(directory, args.repeat)
            print(
                f"{loaded:>8} {ours_proc:>14.2f}s {in_proc:>14.2f}s {public:>16.2f}s {theirs:>14.2f}s "
                f"{ours_proc / theirs:>6.2f}x {theirs / ours_proc:>6.1f}x",
                flush=True,
            )
        print(
            "ratio = ours (process) / ansible-inventory --list (below 1.00: ours is faster); "
            "faster = its inverse"
        )
        if args.explain:
            directory = Path(tmp) / f"explain{args.explain}"
            generate(directory, args.explain)
            explain(directory)


if __name__ == "__main__":
    main()
