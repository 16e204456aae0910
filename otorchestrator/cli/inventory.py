"""`otorch inventory`: validate an Ansible inventory's OT variables and show its assets."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.inventory import InventoryReport, read_inventory
from otorchestrator.intake.problems import Note, show_value
from otorchestrator.models.asset import Asset
from otorchestrator.reporting.inventory import ASSET_COLUMNS, asset_row

EXIT_INVALID = ExitCode.INPUT_INVALID


def _console(stderr: bool = False) -> Console:
    # wide enough for the tables when piped (rich assumes 80 columns then)
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, highlight=False, soft_wrap=stderr, width=None if stream.isatty() else 160)


inventory_option = click.option(
    "-i",
    "--inventory",
    "inventories",
    multiple=True,
    required=True,
    type=click.Path(exists=False, dir_okay=True),
    help="Inventory file or directory, as for `ansible -i` (repeatable).",
)
skip_group_option = click.option(
    "--skip-group",
    "skip_groups",
    multiple=True,
    metavar="GROUP",
    help="Hosts of GROUP are not OT assets (jump hosts, printers): skip them with a note (repeatable).",
)


@click.group()
def inventory() -> None:
    """Read an Ansible inventory and its OT host variables (docs/inventory.md).

    \b
    The inventory is read by ansible-core itself (INI, YAML, directories,
    group_vars/ and host_vars/, children groups, variable precedence), so
    otorch sees exactly what `ansible-inventory --list` sees. Templates such
    as "{{ inventory_dir }}" are not evaluated: only the ot_* variables
    (and ansible_connection) are read.

    \b
    Examples:
      otorch inventory validate -i inventories/lab
      otorch inventory validate -i site/hosts.ini --skip-group bastions
      otorch inventory show -i inventories/lab --group role_hmi
      otorch inventory show -i inventories/lab --json > assets.json
    """


@inventory.command()
@inventory_option
@skip_group_option
@click.option("--json", "as_json", is_flag=True, help="Print {ok, assets, problems, notes} as JSON instead.")
def validate(inventories: Sequence[str], skip_groups: Sequence[str], as_json: bool) -> None:
    """Check every host's OT variables; report all problems at once.

    \b
    Exit status: 0 when every host is a valid OT asset (or skipped),
    8 (input invalid) when there is any problem; each problem names the file and line,
    the host, the variable, the value found and what was expected.
    Warnings (unknown ot_* variables with the closest known name, hosts
    without a maintenance window, ...) go to stderr and do not fail.

    \b
    Examples:
      otorch inventory validate -i inventories/lab
      otorch inventory validate -i hosts.ini -i extra.yml --skip-group support
      otorch inventory validate -i site/ --json | jq '.problems[]'
    """
    report = read_inventory(list(inventories), skip_groups=skip_groups)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "source": report.inventory.source,
                    "assets": len(report.inventory.assets),
                    "problems": [p.as_dict() for p in report.problems],
                    "notes": [n.as_dict() for n in report.notes],
                },
                indent=2,
            )
        )
        sys.exit(0 if report.ok else EXIT_INVALID)
    if not report.ok:
        _print_problems(report)
        sys.exit(EXIT_INVALID)
    _console().print(escape(_summary(report)))
    _print_notes(report.notes)


@inventory.command()
@inventory_option
@skip_group_option
@click.option("--group", "groups", multiple=True, metavar="GROUP", help="Only hosts of GROUP (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the assets as JSON (the Asset model) instead.")
def show(
    inventories: Sequence[str], skip_groups: Sequence[str], groups: Sequence[str], as_json: bool
) -> None:
    """Show the OT assets: site, zone, Purdue level, role, criticality, windows, products.

    \b
    Examples:
      otorch inventory show -i inventories/lab
      otorch inventory show -i inventories/lab --group zone_supervisory
      otorch inventory show -i inventories/lab --json | jq '.[].name'
    """
    report = read_inventory(list(inventories), skip_groups=skip_groups)
    if not report.ok:
        _print_problems(report)
        sys.exit(EXIT_INVALID)
    assets = select(report.inventory.assets, groups)
    if as_json:
        click.echo(json.dumps([a.model_dump(mode="json") for a in assets], indent=2))
        return
    table = Table(title=f"{len(assets)} OT assets in {report.inventory.source}", title_justify="left")
    for column in ASSET_COLUMNS:
        table.add_column(column, overflow="fold")
    for asset in assets:
        row = asset_row(asset)
        table.add_row(*(escape(row[c]) for c in ASSET_COLUMNS))
    _console().print(table)
    _print_notes(report.notes)


def select(assets: Sequence[Asset], groups: Sequence[str]) -> list[Asset]:
    """Assets in any of `groups` (all of them when no group is given; `all` matches every asset)."""
    wanted = set(groups)
    if not wanted or "all" in wanted:
        return list(assets)
    return [a for a in assets if wanted.intersection(a.groups)]


def _summary(report: InventoryReport) -> str:
    count = len(report.inventory.assets)
    extra = []
    if report.skipped:
        extra.append(f"{len(report.skipped)} skipped")
    if report.warnings:
        extra.append(f"{len(report.warnings)} warning{'s' if len(report.warnings) != 1 else ''}")
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"inventory {report.inventory.source}: {count} OT asset{'s' if count != 1 else ''} valid{tail}"


def _print_problems(report: InventoryReport) -> None:
    console = _console()
    table = Table(
        title=f"inventory {report.inventory.source}: {len(report.problems)} problem"
        f"{'s' if len(report.problems) != 1 else ''}",
        title_justify="left",
    )
    for column in ("source", "host", "variable", "value", "expected"):
        table.add_column(column, overflow="fold")
    for p in report.problems:
        table.add_row(
            escape(p.source),
            escape(p.host or "-"),
            escape(p.variable),
            escape(show_value(p.value)),
            escape(p.expected),
        )
    console.print(table)
    _print_notes(report.notes)


def _print_notes(notes: Sequence[Note]) -> None:
    err = _console(stderr=True)
    for note in notes:
        style = "yellow" if note.kind == "warning" else "dim"
        err.print(f"[{style}]{note.kind}[/{style}]: {escape(str(note))}")
