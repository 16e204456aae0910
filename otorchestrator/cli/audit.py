"""`otorch audit verify|show`: prove the audit trail is intact, and read it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from otorchestrator.cli._shared import no_state_store
from otorchestrator.models.run import AuditEvent, AuditHead
from otorchestrator.store.audit import AuditVerification, read_events, verify
from otorchestrator.store.errors import StoreError
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore

_state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State directory (default: $OTORCH_STATE_DIR or ./.otorch).",
)
_log_option = click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="An audit log file on its own (no state store: a truncated tail cannot be detected).",
)


def _locate(state_dir: Path | None, log_file: Path | None) -> tuple[Path, StatePaths | None]:
    if state_dir is not None and log_file is not None:
        raise click.UsageError("give --state-dir or --log, not both")
    if log_file is not None:
        return log_file, None
    paths = StatePaths.resolve(state_dir, os.environ)
    return paths.audit, paths


def _store_head(paths: StatePaths | None) -> AuditHead | None:
    if paths is None or not paths.db.exists():
        return None
    try:
        with StateStore(paths.db) as store:
            return store.audit_head()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


def _render_verification(result: AuditVerification, log: Path, anchored: bool) -> None:
    if result.ok:
        head = result.head_hash or "(empty log)"
        click.echo(f"chain intact: {result.records} records, head {head}")
        if not anchored:
            click.echo("note: no state store head to compare with: a truncated tail would not show", err=True)
    else:
        click.echo(f"chain BROKEN: {log}: {len(result.problems)} problem(s) in {result.records} records")
        for problem in result.problems:
            click.echo(f"  line {problem.line}: {problem.kind}: {problem.detail}")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)


@click.group()
def audit() -> None:
    """Verify and read the hash-chained audit trail."""


@audit.command("verify")
@_state_dir_option
@_log_option
def verify_command(state_dir: Path | None, log_file: Path | None) -> None:
    """Check every record of the audit chain; exit 1 listing each problem with its line number."""
    log, paths = _locate(state_dir, log_file)
    if paths is not None and not log.exists() and not paths.db.exists():
        raise no_state_store(paths)  # nor an audit log beside it
    head = _store_head(paths)
    result = verify(log, expected_head=head)
    _render_verification(result, log, anchored=head is not None)
    raise SystemExit(0 if result.ok else 1)


def _event_row(event: AuditEvent) -> list[str]:
    detail = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(event.detail.items()))
    return [
        str(event.seq),
        event.at.isoformat(timespec="seconds"),
        event.operator,
        event.kind,
        event.run_id or "",
        "" if event.wave is None else str(event.wave),
        event.host or "",
        event.phase.value if event.phase else "",
        event.result or "",
        detail,
    ]


@audit.command("show")
@_state_dir_option
@_log_option
@click.option("--run", "run_id", default=None, help="Only events of this run.")
@click.option("--host", default=None, help="Only events about this host.")
@click.option("--kind", default=None, help="Only events of this kind (e.g. transition).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the events.")
def show_command(
    state_dir: Path | None,
    log_file: Path | None,
    run_id: str | None,
    host: str | None,
    kind: str | None,
    as_json: bool,
) -> None:
    """Print audit events, oldest first."""
    log, paths = _locate(state_dir, log_file)
    if not log.exists():
        raise click.ClickException(f"no audit log at {log}")
    events = [
        event
        for _, event in read_events(log)
        if (run_id is None or event.run_id == run_id)
        and (host is None or event.host == host)
        and (kind is None or event.kind == kind)
    ]
    check = verify(log, expected_head=_store_head(paths))
    if not check.ok:
        click.echo(
            f"warning: the audit chain is BROKEN ({len(check.problems)} problem(s)); "
            "run `otorch audit verify`",
            err=True,
        )
    if as_json:
        click.echo(json.dumps([e.model_dump(mode="json") for e in events], indent=2, ensure_ascii=False))
        return
    table = Table(title=f"audit: {log}")
    for column in ("seq", "at", "operator", "kind", "run", "wave", "host", "phase", "result"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", overflow="fold")
    for event in events:
        table.add_row(*_event_row(event))
    Console().print(table)
