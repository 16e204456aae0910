"""`otorch drift`: compare each host's latest recorded baseline with a new scan; `otorch records`: the records
per asset (baseline and its age, installed-patch history)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from otorchestrator.app import AppError, clock, drifts
from otorchestrator.app.session import Caller
from otorchestrator.cli._shared import (
    default_operator,
    inventory_option,
    limit_option,
    load_assets,
    make_backend,
    resolve_paths,
    state_dir_option,
    warn,
)
from otorchestrator.cli.scan import option_errors
from otorchestrator.execution.scan import HostDrift
from otorchestrator.exitcodes import ExitCode, exit_codes_help
from otorchestrator.reporting.records import AssetRecords, attempt_line, load_asset_records
from otorchestrator.reporting.sources import load_plan
from otorchestrator.store.errors import StoreError


def _as_json(drifts: list[HostDrift]) -> str:
    return json.dumps(
        [
            {
                "host": d.host,
                "baseline_at": d.baseline.at.isoformat() if d.baseline else None,
                "error": d.error,
                "differences": [diff.model_dump(mode="json") for diff in d.differences],
            }
            for d in drifts
        ],
        indent=2,
    )


@click.command(epilog=exit_codes_help(ExitCode.CHANGED))
@inventory_option
@limit_option
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Patch catalog (hash the config files of the hosts' patches, as `otorch scan --catalog`).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the differences as JSON.",
)
@click.option("--accept", is_flag=True, help="Record the new scans as the baselines (after review).")
@click.option("--operator", default=None, help="Who checks (default: the login name).")
@state_dir_option
def drift(
    inventory: Path,
    limit: str | None,
    catalog: Path | None,
    json_out: Path | None,
    accept: bool,
    operator: str | None,
    state_dir: Path | None,
) -> None:
    """Drift: what differs between each host's recorded baseline and a new scan (package versions,
    config file hashes, services, listening ports). Exit 13 (CHANGED) when anything drifted or could not
    be checked.

    \b
    Examples:
      otorch drift -i inventories/lab --catalog inventories/lab/catalog.yml
      otorch drift -i inventories/lab --limit 'role_hmi' --json out/drift.json
      otorch drift -i inventories/lab --limit nw-hmi-02 --accept   # after review: the new baseline
    """
    who = operator or default_operator()
    try:
        drifted = drifts.check_drift(
            inventory, who, Caller(state_dir=state_dir, backend=make_backend, warn=warn),
            limit=limit, catalog=catalog, accept=accept,
        )  # fmt: skip
    except AppError as exc:
        raise option_errors(exc) from exc
    for d in drifted.drifts:
        since = f" (baseline {d.baseline.at:%Y-%m-%d %H:%M} UTC)" if d.baseline else ""
        if d.error:
            click.echo(f"{d.host}: NOT CHECKED: {d.error}")
        elif d.drifted:
            click.echo(f"{d.host}: {len(d.differences)} difference(s){since}")
            for diff in d.differences:
                click.echo(f"  - {diff.describe()}")
        else:
            click.echo(f"{d.host}: no drift{since}")
    if json_out is not None:
        json_out.write_text(_as_json(drifted.drifts) + "\n", encoding="utf-8")
    if accept:
        click.echo("new scans recorded as baselines")
    if drifted.changed:
        raise SystemExit(ExitCode.CHANGED)


# -- otorch records --------------------------------------------------------------------------------


def _records_text(records: tuple[AssetRecords, ...]) -> list[str]:
    lines: list[str] = []
    for r in records:
        b = r.baseline
        if b is None:
            lines.append(f"{r.asset}: no baseline recorded (run `otorch scan`)")
        else:
            ports = ", ".join(b.listening) or "-"
            by = f", {b.run_id}" if b.run_id else ""
            lines.append(
                f"{r.asset}: baseline {b.at:%Y-%m-%d %H:%M} UTC ({b.age_days} days old{by}): "
                f"{len(b.packages)} packages, {b.config_files} config hashes, listening {ports}"
            )
        for a in r.attempts:
            lines.append("  " + attempt_line(a))
        if not r.history and not r.attempts:
            lines.append("  no installed patch recorded, no attempt")
        for h in r.history:
            what = f"{h.package or '?'} {h.from_version or '?'} -> {h.to_version or '?'}"
            line = f"  {h.at:%Y-%m-%d %H:%M} UTC  {h.patch_id}  {what}  run {h.run_id} by {h.operator}"
            if h.rolled_back:
                when = f" at {h.rolled_back_at:%Y-%m-%d %H:%M} UTC" if h.rolled_back_at else ""
                run = f" by run {h.rolled_back_by_run}" if h.rolled_back_by_run else ""
                line += f"  ROLLED BACK{run}{when}"
            lines.append(line)
        for x in r.exemptions:
            state = "EXPIRED" if x.expired else "expires"
            lines.append(
                f"  exempt {x.patch_id}: {x.id} approved by {x.approver}, {state} {x.expires:%Y-%m-%d}; "
                f"controls: {'; '.join(x.compensating_controls)}"
            )
    return lines


@click.command()
@click.option("--host", "hosts", multiple=True, help="Only this asset (repeatable; default: every asset).")
@click.option(
    "-i",
    "--inventory",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="List every asset of this inventory (default: the assets the state store knows).",
)
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A saved plan: also list each asset's exemptions (controls, approver, expiry).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
@state_dir_option
def records(
    hosts: tuple[str, ...],
    inventory: Path | None,
    plan_path: Path | None,
    as_json: bool,
    state_dir: Path | None,
) -> None:
    """Records per asset: the baseline of the latest scan and its age, and the installed-patch history
    (run, operator, when, from -> to; ROLLED BACK when a rollback reversed it).

    \b
    Examples:
      otorch records                       # every asset the state store knows
      otorch records --host nw-hmi-02 --json
      otorch records -i inventories/lab --plan plan.json   # every asset, with exemptions
    """
    paths = resolve_paths(state_dir)
    plan = None
    if plan_path is not None:
        try:
            plan = load_plan(plan_path)
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"{plan_path}: not a saved plan ({exc})") from exc
    names: list[str] | None = None
    if inventory is not None:
        names = [a.name for a in load_assets(inventory)]
    if hosts:
        if names is not None and (unknown := sorted(set(hosts) - set(names))):
            raise click.UsageError(f"--host names no asset of {inventory}: {', '.join(unknown)}")
        names = list(dict.fromkeys(hosts))
    try:
        found = load_asset_records(paths, clock.now(), names, plan)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in found], indent=2))
        return
    if not found:
        click.echo(f"no records in {paths.db}")
        return
    for line in _records_text(found):
        click.echo(line)
