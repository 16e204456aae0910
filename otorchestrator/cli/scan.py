"""`otorch scan`: scan hosts (read-only) and record each complete scan as the host's baseline."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from otorchestrator.app import clock as app_clock
from otorchestrator.cli._shared import (
    CommandError,
    default_operator,
    emit_json,
    inventory_option,
    json_option,
    limit_assets,
    limit_option,
    load_assets,
    make_backend,
    resolve_paths,
    site_audit_sinks,
    state_dir_option,
)
from otorchestrator.execution.scan import applicable_patches, run_scan, save_baselines
from otorchestrator.exitcodes import ExitCode, exit_codes_help
from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.models.catalog import Patch
from otorchestrator.models.run import AuditEvent
from otorchestrator.planning.drift import listening_ports, scan_values
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.state import StateStore

BASELINE_RECORDED = "baseline_recorded"
log = logging.getLogger(__name__)


def catalog_patches(catalog: Path | None) -> list[Patch]:
    if catalog is None:
        return []
    try:
        return list(load_catalog_strict(catalog).patches)
    except ValueError as exc:
        raise CommandError(str(exc), ExitCode.INPUT_INVALID) from exc


@click.command(epilog=exit_codes_help(ExitCode.HOSTS_FAILED, ExitCode.INPUT_INVALID))
@inventory_option
@limit_option
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Patch catalog: the config files of the patches for each host's products are hashed too.",
)
@click.option("--operator", default=None, help="Who records the baselines (default: the login name).")
@state_dir_option
@json_option
def scan(
    inventory: Path,
    limit: str | None,
    catalog: Path | None,
    operator: str | None,
    state_dir: Path | None,
    as_json: bool,
) -> None:
    """Scan hosts and record the baselines: package versions, services, listening ports, config hashes.

    A host whose scan is incomplete keeps its earlier baseline and is listed (exit 3).

    \b
    Examples:
      otorch scan -i inventories/lab --catalog inventories/lab/catalog.yml
      otorch scan -i inventories/lab --limit 'role_hmi:!nw-hmi-02'
      otorch scan -i inventories/lab --limit '~nw-(hmi|scada)-' --json | jq '.recorded'
      otorch drift -i inventories/lab          # later: what changed since
    """
    paths = resolve_paths(state_dir)
    assets = limit_assets(load_assets(inventory), limit)
    if not assets:
        raise click.UsageError("no host to scan: --limit selects none of the inventory's OT assets")
    log.info("scanning %d host(s)", len(assets), extra={"hosts": [a.name for a in assets]})
    patches = catalog_patches(catalog)
    clock = app_clock.CLOCK
    outcome = run_scan(
        make_backend(paths),
        inventory,
        [a.name for a in assets],
        clock,
        patches_by_host={a.name: applicable_patches(a, patches) for a in assets},
    )
    who = operator or default_operator()
    with StateStore(paths.db) as store:
        audit = AuditLog(paths.audit, head_store=store, sinks=site_audit_sinks(paths))
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
    for host, why in failed.items():
        log.warning("baseline of %s not recorded: %s", host, why, extra={"host": host})
    if as_json:
        emit_json(
            {
                "recorded": {
                    host: {
                        "at": record.at.isoformat(),
                        "packages": scan_values(record.data).get("packages") or {},
                        "listening": sorted(listening_ports(scan_values(record.data)), key=_port_key),
                    }
                    for host, record in saved.items()
                },
                "not_recorded": dict(failed),
            }
        )
    else:
        for host, record in saved.items():
            values = scan_values(record.data)
            ports = ", ".join(sorted(listening_ports(values), key=_port_key))
            click.echo(
                f"{host:<14} baseline recorded: {len(values.get('packages') or {})} packages, "
                f"listening {ports or '-'}"
            )
        for host, why in failed.items():
            click.echo(f"{host:<14} NOT recorded: {why}", err=True)
    if failed:
        raise SystemExit(ExitCode.HOSTS_FAILED)


def _port_key(port: str) -> tuple[int, str]:
    proto, _, number = port.partition("/")  # "tcp/502": by number, as the table always showed them
    return (int(number) if number.isdigit() else -1), proto
