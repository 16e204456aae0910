"""`otorch watch`: what changed for the plant since the last evaluation.

Exit codes: 0 nothing new applies; 13 (CHANGED) new or revised applicable findings (or a new KEV entry on
an asset); 2 usage error; 8 (INPUT_INVALID) an input is unusable (nothing recorded).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from otorchestrator.app import clock
from otorchestrator.cli._shared import (
    MomentType,
    now_option,
    plan_input_options,
    resolve_paths,
    state_dir_option,
)
from otorchestrator.exitcodes import ExitCode, exit_codes_help
from otorchestrator.feeds.config import FEEDS_FILE, load_feeds
from otorchestrator.feeds.kev import kev_paths
from otorchestrator.feeds.store import FeedStore, atomic_write
from otorchestrator.feeds.watch import Changes, compare, findings, from_record, to_record
from otorchestrator.intake.errors import IntakeError


def _baseline(directory: Path, since: datetime | None) -> tuple[datetime | None, dict | None]:
    """The latest evaluation (or the latest at or before `since`)."""
    records = sorted(directory.glob("*.json")) if directory.exists() else []
    chosen = None
    for path in records:
        at, found = from_record(json.loads(path.read_text()))
        if since is None or at <= since:
            chosen = (at, found)
    return chosen if chosen else (None, None)


@click.command(epilog=exit_codes_help(ExitCode.CHANGED, ExitCode.INPUT_INVALID))
@plan_input_options
@click.option(
    "--advisories",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Advisory folder(s) instead of every configured feed's store (repeatable).",
)
@click.option(
    "--kev",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="KEV JSON instead of the one `otorch feeds sync` stored.",
)
@click.option(
    "--since",
    type=MomentType(naive_is_utc=True),
    help="Compare with the last evaluation made at or before this ISO date/datetime (UTC without an offset).",
)
@now_option("ISO-8601 datetime with offset of this evaluation (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Feeds file (default: <state dir>/{FEEDS_FILE}).",
)
@state_dir_option
def watch(
    inventory_path: Path,
    catalog: Path,
    exemptions: Path | None,
    approvals: Path | None,
    advisories: tuple[Path, ...],
    kev: Path | None,
    since: datetime | None,
    now: datetime | None,
    as_json: bool,
    config: Path | None,
    state_dir: Path | None,
) -> None:
    """Evaluate the synced advisories and KEV against the inventory (the planner of `otorch plan`) and say
    what changed since the last evaluation: new or revised findings, new KEV entries on assets, findings
    gone, each with its decision. Every evaluation is recorded (CIP-007 R2.2: at least every 35 days).

    \b
    Examples:
      otorch watch -i inventories/lab --catalog inventories/lab/catalog.yml \\
        --advisories inventories/lab/advisories --kev inventories/lab/kev.json
      otorch feeds sync --quiet && otorch watch -i site/ --catalog catalog.yml --json   # daily timer
      otorch watch -i site/ --catalog catalog.yml --since 2026-03-01   # against an older evaluation
    """
    from otorchestrator.intake.inventory import load_inventory
    from otorchestrator.intake.plan_inputs import gather
    from otorchestrator.intake.problems import InventoryError
    from otorchestrator.planning.plan import build_plan

    now = now or clock.now_seconds()
    paths = resolve_paths(state_dir)
    if not advisories:
        try:
            site = load_feeds(config or paths.root / FEEDS_FILE)
        except IntakeError as exc:
            raise click.UsageError(f"feeds file unusable: {exc}") from exc
        advisories = tuple(
            FeedStore(paths.root, f.name).advisories
            for f in site.feeds
            if FeedStore(paths.root, f.name).advisories.is_dir()
        )
        if not advisories:
            raise click.UsageError("no synced feed store: run `otorch feeds sync` or pass --advisories DIR")
    if kev is None and kev_paths(paths.root)[0].exists():
        kev = kev_paths(paths.root)[0]
    try:
        inventory = load_inventory(inventory_path)
        inputs, _ = gather(inventory, inventory_path, advisories, catalog, kev, exemptions, approvals)
    except (InventoryError, IntakeError) as exc:
        click.echo("input unusable, nothing evaluated:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(ExitCode.INPUT_INVALID) from exc
    plan = build_plan(inputs, now)
    current = findings(plan, {e.cve for e in inputs.kev.entries})
    history = paths.root / "feeds" / "evaluations"
    at, before = _baseline(history, since)
    changes = compare(before, current, at, now)
    atomic_write(
        history / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json",
        (json.dumps(to_record(current, now, dict(inputs.input_hashes)), indent=1) + "\n").encode(),
    )
    if as_json:
        click.echo(
            json.dumps(
                {"evaluated_at": now.isoformat(), "findings": len(current), **changes.to_json()}, indent=2
            )
        )
    else:
        _print(changes, len(current))
    sys.exit(ExitCode.CHANGED if changes.new_applicable else ExitCode.OK)


def _print(changes: Changes, total: int) -> None:
    since = changes.since or "never (first evaluation: every finding is new)"
    click.echo(f"{total} finding(s); compared with the evaluation of {since}")
    if changes.overdue:
        click.echo(f"WARNING: {changes.overdue}")
    if not changes.changes:
        click.echo("nothing changed")
    for change in changes.changes:
        f = change.finding
        decision = f.decision if change.kind != "gone" else f"was {f.decision}"
        click.echo(f"  {change.kind.upper():8} {f.asset} {f.cve} {f.product}: {decision}; {change.why}")
