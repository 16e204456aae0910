"""`otorch approve`: write a signed approval (asset, unqualified-patch override, drill) for a plan."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from otorchestrator.app import clock
from otorchestrator.cli._shared import trust_option
from otorchestrator.intake.planfiles import PlanFileError, load_plan
from otorchestrator.trust.approvals import ApprovalStatement, write_statement
from otorchestrator.trust.signed import Kind, sign_file
from otorchestrator.trust.sshsig import SshSigError
from otorchestrator.trust.trustfile import ApprovalKind, TrustError, find_trust


@click.command()
@click.argument("kind", type=click.Choice([k.value for k in ApprovalKind]))
@click.option("--asset", help="The host approved (asset, drill; for unqualified_patch: only this host).")
@click.option(
    "--patch", "patches", multiple=True, help="Patch id (repeatable; required for unqualified_patch)."
)
@click.option(
    "--plan", "plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The plan approved: its content hash goes into the approval (required for asset).",
)  # fmt: skip
@click.option("--approver", required=True, help="Your principal in the trust file (must match --key).")
@click.option("--reason", required=True, help="Why: recorded with the approval.")
@click.option(
    "--valid-hours", type=click.IntRange(min=1, max=24 * 90), default=24, show_default=True,
    help="How long the approval is valid, from now (hours, at most 90 days).",
)  # fmt: skip
@click.option(
    "--key", required=True, envvar="OTORCH_SIGNING_KEY",
    type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Your SSH key.",
)  # fmt: skip
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Directory to write to (default: the trust file's approvals_dir).",
)  # fmt: skip
@trust_option("Its approvals_dir is where the approval is written without --out.")
def approve(
    kind: str,
    asset: str | None,
    patches: tuple[str, ...],
    plan_file: Path | None,
    approver: str,
    reason: str,
    valid_hours: int,
    key: Path,
    out_dir: Path | None,
    trust_file: Path | None,
) -> None:
    """Write and sign an approval (FILE.approval.json + .sig). The run accepts it only when it verifies,
    its signer is the approver, the trust file lets the approver approve that host, it is valid now, it
    names the run's plan, and the approver is not the operator running it.

    \b
    Examples:
      otorch approve asset --asset nw-scada-a --plan out/plan.json --approver bob \\
        --reason "failover tested 2026-12-01" --key ~/.ssh/id_ed25519
      otorch approve unqualified_patch --patch NWC-P-2026-0105 --asset nw-ews-01 --plan out/plan.json \\
        --approver bob --reason "vendor test report 2026-11 reviewed" --key ~/.ssh/id_ed25519
      otorch approve drill --asset nw-sis-01 --approver carol --reason "annual proof test" \\
        --key ~/.ssh/id_ed25519 --valid-hours 8
    """
    try:
        plan_hash = load_plan(plan_file).content_hash if plan_file else None
        now = clock.now()
        statement = ApprovalStatement(
            kind=ApprovalKind(kind), asset=asset, patches=patches, plan_hash=plan_hash, approver=approver,
            reason=reason, valid_from=now, valid_until=now + timedelta(hours=valid_hours),
        )  # fmt: skip
    except (PlanFileError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    if out_dir is None:
        try:
            trust = find_trust(trust_file)
        except TrustError as exc:
            raise click.ClickException(str(exc)) from exc
        if trust is None:
            raise click.UsageError("no trust file to take approvals_dir from: pass --out DIR or --trust")
        out_dir = trust.approvals_dir
    path = write_statement(statement, out_dir)
    try:
        sign_file(path, key, Kind.APPROVAL)
    except SshSigError as exc:
        path.unlink()
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{path}: {kind} approval of {statement.subject()} by {approver}, valid until "
               f"{statement.valid_until:%Y-%m-%d %H:%M} UTC")  # fmt: skip
