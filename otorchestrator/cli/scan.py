"""`otorch scan`: scan hosts (read-only) and record each complete scan as the host's baseline."""

from __future__ import annotations

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
from otorchestrator.execution.scan import applicable_patches, run_scan, save_baselines
from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.models.catalog import Patch
from otorchestrator.models.run import AuditEvent
from otorchestrator.planning.drift import listening_ports, scan_values
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.clock import SystemClock
from otorchestrator.store.state import StateStore

BASELINE_RECORDED = "baseline_recorded"


def catalog_patches(catalog: Path | None) -> list[Patch]:
    if catalog is None:
        return []
    try:
        return list(load_catalog_strict(catalog).patches)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@inventory_option
@click.option("--limit", default=None, help="Comma-separated hosts or groups (default: every host).")
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Patch catalog: the config files of the patches for each host's products are hashed too.",
)
@click.option("--operator", default=None, help="Who records the baselines (default: the login name).")
@state_dir_option
def scan(
    inventory: Path, limit: str | None, catalog: Path | None, operator: str | None, state_dir: Path | None
) -> None:
    """Scan hosts and record the baselines: package versions, services, listening ports, config hashes.

    \b
      otorch scan -i inventories/lab --catalog inventories/lab/catalog.yml
      otorch drift -i inventories/lab          # later: what changed since
    """
    paths = resolve_paths(state_dir)
    assets = limit_assets(load_assets(inventory), limit)
    if not assets:
        raise click.ClickException("no host to scan")
    patches = catalog_patches(catalog)
    clock = SystemClock()
    outcome = run_scan(
        make_backend(paths),
        inventory,
        [a.name for a in assets],
        clock,
        patches_by_host={a.name: applicable_patches(a, patches) for a in assets},
    )
    who = operator or default_operator()
    with StateStore(paths.db) as store:
        audit = AuditLog(paths.audit, head_store=store)
        saved, failed = save_baselines(store, outcome)
        for host, record in saved.items():
            values = scan_values(record.data)
            audit.append(
                AuditEvent(
                    at=record.at,
                    operator=who,
                    kind=BASELINE_RECORDED,
                    host=host,
                    result="ok",
                    detail={
                        "packages": len(values.get("packages") or {}),
                        "ports": sorted(listening_ports(values)),
                    },
                )
            )
    for host, record in saved.items():
        values = scan_values(record.data)
        ports = ", ".join(sorted(listening_ports(values), key=lambda p: int(p.split("/")[1])))
        click.echo(
            f"{host:<14} baseline recorded: {len(values.get('packages') or {})} packages, "
            f"listening {ports or '-'}"
        )
    for host, why in failed.items():
        click.echo(f"{host:<14} NOT recorded: {why}", err=True)
    if failed:
        raise SystemExit(1)
