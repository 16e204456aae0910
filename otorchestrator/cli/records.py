"""`otorch drift`: compare each host's latest recorded baseline with a new scan."""

from __future__ import annotations

import json
from pathlib import Path

import click

from otorchestrator.cli._shared import (
    default_operator,
    inventory_option,
    limit_assets,
    load_assets,
    make_backend,
    resolve_paths,
    state_dir_option,
)
from otorchestrator.cli.scan import BASELINE_RECORDED, catalog_patches
from otorchestrator.execution.scan import (
    HostDrift,
    applicable_patches,
    drift_against_baselines,
    run_scan,
    save_baselines,
)
from otorchestrator.models.run import AuditEvent
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.clock import SystemClock
from otorchestrator.store.state import StateStore

DRIFT_CHECKED = "drift_checked"


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


@click.command()
@inventory_option
@click.option("--limit", default=None, help="Comma-separated hosts or groups (default: every host).")
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
    config file hashes, services, listening ports). Exit 1 when anything drifted or could not be checked."""
    paths = resolve_paths(state_dir)
    assets = limit_assets(load_assets(inventory), limit)
    if not assets:
        raise click.ClickException("no host to check")
    patches = catalog_patches(catalog)
    outcome = run_scan(
        make_backend(paths),
        inventory,
        [a.name for a in assets],
        SystemClock(),
        patches_by_host={a.name: applicable_patches(a, patches) for a in assets},
        run_label="drift",
    )
    who = operator or default_operator()
    with StateStore(paths.db) as store:
        audit = AuditLog(paths.audit, head_store=store)
        drifts = drift_against_baselines(store, outcome)
        for d in drifts:
            audit.append(
                AuditEvent(
                    at=outcome.finished_at,
                    operator=who,
                    kind=DRIFT_CHECKED,
                    host=d.host,
                    result="error" if d.error else ("drift" if d.drifted else "clean"),
                    detail={"differences": [x.describe() for x in d.differences], "error": d.error},
                )
            )
        if accept:
            saved, _ = save_baselines(store, outcome)
            for host, record in saved.items():
                audit.append(
                    AuditEvent(
                        at=record.at,
                        operator=who,
                        kind=BASELINE_RECORDED,
                        host=host,
                        result="ok",
                        detail={"accepted_drift": True},
                    )
                )
    for d in drifts:
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
        json_out.write_text(_as_json(drifts) + "\n", encoding="utf-8")
    if accept:
        click.echo("new scans recorded as baselines")
    if any(d.error or d.drifted for d in drifts):
        raise SystemExit(1)
