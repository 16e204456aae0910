"""`otorch scan`: scan hosts (read-only) and record each complete scan as the host's baseline."""

from __future__ import annotations

from pathlib import Path

import click

from otorchestrator.app import AppError, scans
from otorchestrator.app.session import Caller
from otorchestrator.cli._shared import (
    click_error,
    default_operator,
    emit_json,
    inventory_option,
    json_option,
    limit_option,
    make_backend,
    state_dir_option,
    warn,
)
from otorchestrator.exitcodes import ExitCode, exit_codes_help


def option_errors(exc: AppError) -> click.ClickException:
    """An app error of scan or drill as click shows it: a bad option value names the option."""
    if isinstance(exc, scans.OptionError):
        return click.BadParameter(exc.message, param_hint=exc.option)
    return click_error(exc)


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
    who = operator or default_operator()
    try:
        scanned = scans.scan(
            inventory, who, Caller(state_dir=state_dir, backend=make_backend, warn=warn),
            limit=limit, catalog=catalog,
        )  # fmt: skip
    except AppError as exc:
        raise option_errors(exc) from exc
    if as_json:
        emit_json(
            {
                "recorded": {
                    host: {
                        "at": r.record.at.isoformat(),
                        "packages": r.packages,
                        "listening": list(r.listening),
                    }
                    for host, r in scanned.recorded.items()
                },
                "not_recorded": dict(scanned.not_recorded),
            }
        )
    else:
        render(scanned)
    if scanned.exit_code:
        raise SystemExit(scanned.exit_code)


def render(scanned: scans.Scanned) -> None:
    """A line per host: its baseline recorded (packages, listening ports), or why not (on stderr)."""
    for host, r in scanned.recorded.items():
        ports = ", ".join(r.listening) or "-"
        click.echo(f"{host:<14} baseline recorded: {len(r.packages)} packages, listening {ports}")
    for host, why in scanned.not_recorded.items():
        click.echo(f"{host:<14} NOT recorded: {why}", err=True)
