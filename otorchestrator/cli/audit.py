"""`otorch audit verify|show`: prove the audit trail is intact, and read it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from otorchestrator.cli._shared import CommandError, emit_json, json_option, no_state_store, trust_option
from otorchestrator.exitcodes import ExitCode
from otorchestrator.forward.config import AuditConfigError, find_audit_config
from otorchestrator.forward.syslog import SyslogSink
from otorchestrator.models.auditconfig import OnFailure
from otorchestrator.models.run import AuditEvent, AuditHead
from otorchestrator.store.audit import AuditLog, read_events, verify
from otorchestrator.store.audit_report import AuditReport, audit_report
from otorchestrator.store.errors import AuditUnavailable, StoreError
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore
from otorchestrator.trust.trustfile import TrustError, find_trust

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


def _render(report: AuditReport) -> None:
    chain, k = report.chain, report.checkpoints
    if chain.ok:
        click.echo(f"chain intact: {chain.records} records, head {chain.head_hash or '(empty log)'}")
        if not report.anchored:
            click.echo("note: no state store head to compare with: a truncated tail would not show", err=True)
    else:
        click.echo(f"chain BROKEN: {report.log}: {len(chain.problems)} problem(s) in {chain.records} records")
    if k.found or k.problems:
        signers = f" by {', '.join(k.signers)}" if k.signers else ""
        state = "verified" if k.ok and k.verified == k.found else "NOT verified" if not k.ok else "found"
        click.echo(
            f"checkpoints {state}: {k.verified} of {k.found} signatures good{signers}, covering seq "
            f"{k.covered_seq} of {k.last_seq}"
        )
    else:
        click.echo("checkpoints: none in the log")
    if report.store is not None:
        s = report.store
        verdict = "match" if s.ok else "DO NOT match"
        click.echo(
            f"store: {s.runs} run(s), {s.transitions} transitions, {s.phase_results} phase results "
            f"{verdict} the audit log"
        )
    if report.against is not None:
        a = report.against
        span = f"seq {a.first_seq}..{a.last_seq}" if a.first_seq is not None else "no records"
        verdict = "matches the log" if a.ok else "DOES NOT match the log"
        click.echo(f"copy {a.copy}: {a.records} records ({span}) {verdict}")
    problems = report.problems()
    if problems:
        click.echo(f"audit NOT verified: {len(problems)} problem(s)")
        for line in problems:
            click.echo(f"  {line}")
    for note in report.notes():
        click.echo(f"note: {note}", err=True)


@click.group()
def audit() -> None:
    """Verify and read the hash-chained audit trail.

    \b
    Examples:
      otorch audit verify
      otorch audit verify --against /var/log/siem/otorch.log --require-checkpoints
      otorch audit show --run run-20260301-020000-ab12 --kind transition
    """


@audit.command("verify")
@_state_dir_option
@_log_option
@trust_option("Its audit signers verify the checkpoints.")
@click.option(
    "--require-checkpoints", is_flag=True,
    help="Every run start, wave end and run end must have its signed checkpoint.",
)  # fmt: skip
@click.option(
    "--against", "against", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
    help="An exported copy to compare record by record (e.g. the file the syslog server wrote).",
)  # fmt: skip
@json_option
def verify_command(
    state_dir: Path | None,
    log_file: Path | None,
    trust_file: Path | None,
    require_checkpoints: bool,
    against: Path | None,
    as_json: bool,
) -> None:
    """Check the audit trail: the hash chain (anchored to the state store's head), the signed
    checkpoints, the store's transitions and phase results, and (--against) an exported copy. Lists each
    problem with its line or seq.

    \b
    Examples:
      otorch audit verify
      otorch audit verify --trust /etc/otorchestrator/trust.yml --require-checkpoints
      otorch audit verify --against /var/log/otorch-siem.log --json | jq .problems

    \b
    Exit codes: 0 everything verified, 10 a problem found (INTEGRITY), 9 no state store (NO_STATE),
    8 the trust file is unusable (INPUT_INVALID).
    """
    log, paths = _locate(state_dir, log_file)
    if paths is not None and not log.exists() and not paths.db.exists():
        raise no_state_store(paths)  # nor an audit log beside it
    try:
        trust = find_trust(trust_file)
    except TrustError as exc:
        raise CommandError(str(exc), ExitCode.INPUT_INVALID) from exc
    try:
        if paths is not None and paths.db.exists():
            with StateStore(paths.db) as store:
                report = audit_report(log, store, trust, require_checkpoints, against)
        else:
            report = audit_report(log, None, trust, require_checkpoints, against)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        emit_json(report.to_json())
    else:
        _render(report)
    raise SystemExit(int(ExitCode.OK if report.ok else ExitCode.INTEGRITY))


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
    """Print audit events, oldest first.

    \b
    Examples:
      otorch audit show --host nw-hmi-01
      otorch audit show --kind audit_checkpoint --json | jq '.[].detail.statement'
    """
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


@audit.command("forward")
@_state_dir_option
@click.option("--from", "first", type=click.IntRange(min=1), required=True, help="First seq to send.")
@click.option(
    "--to", "last", type=click.IntRange(min=1), default=None, help="Last seq to send (default: the head)."
)
@click.option(
    "--audit-config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="Site audit config naming the syslog server (default: $OTORCH_AUDIT_CONFIG, else "
    "/etc/otorchestrator/audit.yml).",
)  # fmt: skip
@json_option
def forward_command(
    state_dir: Path | None, first: int, last: int | None, audit_config: Path | None, as_json: bool
) -> None:
    """Send records of the audit log to the site's syslog server again: the gap a failed forward left
    (`audit verify --against` lists it). Only an intact chain is sent; a record the copy then holds twice,
    identical, is fine.

    \b
    Examples:
      otorch audit forward --from 812 --to 813
      otorch audit forward --from 1 --audit-config /etc/otorchestrator/audit.yml --json

    \b
    Exit codes: 0 sent, 14 the syslog server did not take them (AUDIT_UNAVAILABLE), 10 the chain does not
    verify (INTEGRITY), 8 the audit config is unusable or names no syslog server (INPUT_INVALID).
    """
    log, paths = _locate(state_dir, None)
    if paths is not None and not paths.db.exists():
        raise no_state_store(paths)
    try:
        config = find_audit_config(audit_config)
    except AuditConfigError as exc:
        raise CommandError(str(exc), ExitCode.INPUT_INVALID) from exc
    if config is None or config.syslog is None:
        raise CommandError(
            "no syslog server configured: pass --audit-config (docs/audit.md)", ExitCode.INPUT_INVALID
        )
    check = verify(log, expected_head=_store_head(paths))
    if not check.ok:
        raise CommandError(f"{log}: the chain does not verify: run `otorch audit verify`", ExitCode.INTEGRITY)
    target = config.syslog.model_copy(update={"on_failure": OnFailure.HALT})  # a failure is reported
    sink = SyslogSink(target, warn=lambda m: click.echo(f"warning: {m}", err=True))
    sent: list[int] = []
    try:
        for _, event in read_events(log):
            if event.seq >= first and (last is None or event.seq <= last):
                sink.written(event, AuditLog(log))
                sent.append(event.seq)
    except AuditUnavailable as exc:
        raise CommandError(str(exc), ExitCode.AUDIT_UNAVAILABLE) from exc
    finally:
        sink.close()
    span = f"seq {sent[0]}..{sent[-1]}" if sent else "no record"
    if as_json:
        emit_json({"sent": len(sent), "first": sent[0] if sent else None, "last": sent[-1] if sent else None,
                   "to": sink.where})  # fmt: skip
    else:
        click.echo(f"sent {len(sent)} record(s) ({span}) to {sink.where}")
