"""`otorch nodes`: the site's zone execution nodes (nodes.yml): check them, set them up (wheelhouse)."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from otorchestrator.cli._shared import emit_json, fail, inventory_option, json_option
from otorchestrator.exitcodes import ExitCode, exit_codes_help
from otorchestrator.nodes import bootstrap as nb
from otorchestrator.nodes import inventory as ninv
from otorchestrator.nodes.config import NodesConfig, NodesConfigError, check_zones, load_nodes, nodes_file

console = Console(highlight=False, soft_wrap=True, stderr=True)

_NODES_OPTION = click.option(
    "--nodes",
    "nodes_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The node configuration (default: $OTORCH_NODES, else nodes.yml beside the inventory).",
)


def _load(inventory: Path, nodes_path: Path | None) -> tuple[NodesConfig, dict[str, object]]:
    path = nodes_path or nodes_file(inventory)
    if path is None:
        fail(f"no nodes.yml beside {inventory} and no --nodes / $OTORCH_NODES", ExitCode.INPUT_INVALID)
    try:
        config = load_nodes(path)
        data = ninv.listing(inventory)
    except (NodesConfigError, ninv.InventoryError) as exc:
        fail(str(exc), ExitCode.INPUT_INVALID)
    problems = check_zones(config, ninv.zones(data))
    if problems:
        fail("\n".join(problems), ExitCode.INPUT_INVALID)
    return config, data


def _default_wheelhouse() -> Path:
    env = os.environ.get("OTORCH_WHEELHOUSE")
    if env:
        return Path(env)
    from otorchestrator.lab.config import project_root

    return project_root() / ".lab" / "wheelhouse"


@click.group()
def nodes() -> None:
    """Zone execution nodes: the hosts of a zone are patched by its node.

    \b
    The controller sends each zone's share of a phase to the zone's node as an
    ansible-runner `transmit` stream over SSH; `ansible-runner worker` runs it
    there and streams the events back (OTORCH_BACKEND=nodes). docs/nodes.md.

    \b
    Examples:
      otorch nodes check -i .lab/zones
      otorch nodes bootstrap -i .lab/zones --wheelhouse .lab/wheelhouse
    """


@nodes.command("check", epilog=exit_codes_help(ExitCode.HOSTS_FAILED, ExitCode.INPUT_INVALID))
@inventory_option
@_NODES_OPTION
@json_option
def check_cmd(inventory: Path, nodes_path: Path | None, as_json: bool) -> None:
    """Each node: reachable over SSH (pinned host key), ansible-core and
    ansible-runner at the controller's versions, and which of its zones' hosts
    it can open an SSH connection to.

    \b
    Examples:
      otorch nodes check -i .lab/zones
      otorch nodes check -i inventories/plant --json | jq '.nodes[] | select(.reachable | not)'
    """
    config, data = _load(inventory, nodes_path)
    targets = {
        node.name: {
            host: ninv.address(data, host) for zone in node.zones for host in ninv.zones(data).get(zone, [])
        }
        for node in config.nodes
    }
    reports = nb.checks(config, targets)
    healthy = all(r.reachable and r.pinned and all(h.reachable for h in r.hosts) for r in reports)
    if as_json:
        emit_json({"pins": nb.pins(), "nodes": [asdict(r) for r in reports], "ok": healthy})
    else:
        out = Console(highlight=False, soft_wrap=True)
        for r in reports:
            mark = "[green]ok[/green]" if r.reachable and r.pinned else "[red]PROBLEM[/red]"
            versions = " ".join(f"{k} {v}" for k, v in sorted(r.versions.items()))
            out.print(f"{escape(r.node)}: {mark} {escape(r.detail)} ({escape(versions) or 'no versions'})")
            for h in r.hosts:
                state = (
                    "[green]reachable[/green]"
                    if h.reachable
                    else f"[red]unreachable[/red] {escape(h.detail)}"
                )
                out.print(f"  {escape(h.host)} {h.address}:{h.port} {state}")
    sys.exit(ExitCode.OK if healthy else ExitCode.HOSTS_FAILED)


@nodes.command("bootstrap", epilog=exit_codes_help(ExitCode.HOSTS_FAILED, ExitCode.INPUT_INVALID))
@inventory_option
@_NODES_OPTION
@click.option(
    "--wheelhouse",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of wheels the controller carries (default: $OTORCH_WHEELHOUSE or .lab/wheelhouse). "
    "Filled once with pip download when it lacks the pinned versions.",
)
@json_option
def bootstrap_cmd(inventory: Path, nodes_path: Path | None, wheelhouse: Path | None, as_json: bool) -> None:
    """Install the pinned ansible-core and ansible-runner on every node.

    The wheels go from the controller's wheelhouse over SSH and are installed
    with `pip --no-index` into /opt/otorch-node/venv: the node fetches nothing.
    Nodes already at the pins are left alone.

    \b
    Examples:
      otorch nodes bootstrap -i .lab/zones
    """
    config, _ = _load(inventory, nodes_path)
    try:
        house = nb.ensure_wheelhouse(wheelhouse or _default_wheelhouse(), lambda m: console.print(escape(m)))
    except nb.WheelhouseError as exc:
        fail(str(exc), ExitCode.ERROR)
    reports = nb.bootstrap_all(config, house, lambda m: None if as_json else console.print(escape(m)))
    if as_json:
        emit_json({"pins": nb.pins(), "nodes": [asdict(r) for r in reports]})
    sys.exit(ExitCode.OK if all(r.ok for r in reports) else ExitCode.HOSTS_FAILED)
