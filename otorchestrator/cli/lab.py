"""`otorch lab`: build, start, inspect, reset and remove the lab of real Linux hosts."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from otorchestrator.cli._shared import emit_json, json_option
from otorchestrator.lab import build, lifecycle
from otorchestrator.lab.config import LabConfig
from otorchestrator.lab.inventory import LabInventoryError
from otorchestrator.lab.podman import PodmanError
from otorchestrator.lab.zonenodes import ZoneLabError

# wide enough for the status table when piped (rich assumes 80 columns then)
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)


def _progress(msg: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {escape(msg)}")


def _config() -> LabConfig:
    try:
        return LabConfig.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _guard(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except (lifecycle.LabError, build.LabBuildError, PodmanError, LabInventoryError, ZoneLabError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def lab() -> None:
    """Build and run the lab: real Linux hosts reached by Ansible over SSH.

    \b
    Each host of inventories/lab/hosts.yml is a rootful podman container
    `<lab>-<host>` (Debian 12, sshd, no systemd) on network `<lab>-net`, with
    SSH published on 127.0.0.1:<lab_ssh_port>. The hosts install Northwind
    Controls packages from a local, signed APT repository (.lab/repo/main,
    mounted at /srv/nwc-repo). Root logs in with the key .lab/ssh/id_ed25519.

    \b
    Examples:
      otorch lab up          # build what is missing, start all hosts (idempotent)
      otorch lab status      # which hosts run and answer SSH
      otorch lab reset       # back to the clean baseline (products at 1.0.0)
      otorch lab down        # remove containers and network

    \b
    Environment:
      OTORCH_LAB_NAME         lab instance name (default otlab): container prefix,
                              label otorchestrator.lab=<name>, network <name>-net
      OTORCH_LAB_PORT_OFFSET  added to every SSH port, so a second lab (e.g. the
                              tests' `otlabtest`) can run beside the demo's
    """


@lab.command("build")
def build_cmd() -> None:
    """Build the host image and the signed repositories only (no hosts started).

    The image (debootstrap bookworm minbase, imported with `podman import`) is
    tagged with a hash of its recipe in lab/image/ and rebuilt only when that
    changes; the debootstrap tree is cached in /var/cache/otorchestrator. The
    vendor packages are built reproducibly, so their sha256 match
    inventories/lab/catalog.yml.

    \b
    Examples:
      otorch lab build
      OTORCH_LAB_NAME=otdev otorch lab build
    """
    cfg = _config()
    t0 = time.monotonic()
    image = _guard(lambda: build.build_all(cfg, _progress))
    _progress(f"build done: image {image}, repository {cfg.repo_dir} ({time.monotonic() - t0:.1f} s)")


@lab.command("up")
@click.option(
    "--hosts",
    "count",
    type=int,
    default=None,
    metavar="N",
    help="Start only the first N hosts of the lab inventory (default: all); N above the inventory's count "
    "starts a scale lab with generated hosts (up to 60; inventory in .lab/scale).",
)
@click.option(
    "--zones",
    is_flag=True,
    help="The zoned lab: the supervisory, cell-a-control and idmz hosts behind their own networks, "
    "reached only through a node per zone (inventory and nodes.yml in .lab/zones; docs/lab.md).",
)
def up_cmd(count: int | None, zones: bool) -> None:
    """Start the lab hosts (building image and repository first if needed).

    Safe to run twice: healthy running hosts are kept, stale containers of the
    same lab name (e.g. from a killed session) are removed and recreated. New
    hosts get the baseline: each product of `ot_installed_products` at its
    inventory version from the signed repository, plus the host's `lab_knobs`.
    Returns when every host's sshd answers.

    A scale lab for benchmarks: `--hosts 24` starts the 8 lab hosts and 16
    generated ones (HMIs, historians, workstations, SCADA pairs over two sites;
    healthy, no fault knobs) and writes their inventory to .lab/scale. Each lab
    host takes about 20 MiB of memory and no CPU when idle (docs/lab.md).

    \b
    Examples:
      otorch lab up
      otorch lab up --hosts 2
      otorch lab up --hosts 24 && OTORCH_LAB_INVENTORY=.lab/scale otorch lab status
      OTORCH_LAB_NAME=otdev OTORCH_LAB_PORT_OFFSET=5000 otorch lab up   # a second lab beside the first
      otorch lab up --zones && OTORCH_BACKEND=nodes otorch run -i .lab/zones ...
    """
    cfg = _config()
    _guard(lambda: lifecycle.up(cfg, count, _progress, zones=zones))


@lab.command("down")
def down_cmd() -> None:
    """Remove every container and the network of this lab instance.

    Leaves no containers, networks or processes behind. The image, the
    repositories and the lab key stay cached for the next `otorch lab up`.

    \b
    Examples:
      otorch lab down
      OTORCH_LAB_NAME=otdev otorch lab down
    """
    cfg = _config()
    _guard(lambda: lifecycle.down(cfg, _progress))


@lab.command("reset")
@click.option(
    "--hosts",
    "count",
    type=int,
    default=None,
    metavar="N",
    help="Reset only the first N hosts of the lab inventory (default: all).",
)
@click.option(
    "--host",
    "names",
    multiple=True,
    metavar="NAME",
    help="Reset only this inventory host (repeatable), e.g. --host nw-hmi-02.",
)
def reset_cmd(count: int | None, names: tuple[str, ...]) -> None:
    """Recreate hosts from the image: the clean baseline.

    Everything done to the hosts since (patches, rollbacks, stray processes) is
    discarded; products are back at 1.0.0 and the lab knobs are re-applied.
    Hosts not selected by --hosts/--host keep running untouched.

    \b
    Examples:
      otorch lab reset
      otorch lab reset --host nw-hmi-02 --host nw-plc-01
    """
    cfg = _config()
    t0 = time.monotonic()
    _guard(lambda: lifecycle.reset(cfg, count, _progress, names=list(names)))
    _progress(f"reset done ({time.monotonic() - t0:.1f} s)")


@lab.command("status")
@json_option
def status_cmd(as_json: bool) -> None:
    """Show each lab host: container state, SSH port, reachable over SSH, OT role.

    \b
    Examples:
      otorch lab status
      otorch lab status --json | jq -r '.hosts[] | select(.reachable | not) | .host'
    """
    cfg = _config()
    rows = _guard(lambda: lifecycle.status(cfg))
    if as_json:
        emit_json({"lab": cfg.name, "network": cfg.network, "hosts": [asdict(r) for r in rows]})
        return
    table = Table(title=f"lab '{cfg.name}' (network {cfg.network})")
    for col in ("host", "container", "state", "ssh port", "reachable", "OT role", "purdue", "criticality"):
        table.add_column(col)
    for r in rows:
        state = f"[green]{r.state}[/green]" if r.state == "running" else f"[red]{r.state}[/red]"
        reach = "[green]yes[/green]" if r.reachable else "[red]no[/red]"
        level = "" if r.purdue_level is None else f"{r.purdue_level:g}"
        table.add_row(r.host, r.container, state, str(r.ssh_port), reach, r.role, level, r.criticality)
    console.print(table)
    up_count = sum(r.reachable for r in rows)
    console.print(f"{up_count}/{len(rows)} host(s) reachable")
