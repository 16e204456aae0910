"""`otorch sign FILE` / `otorch verify FILE`: detached SSH signatures of plans, wave plans and approvals."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from otorchestrator.cli._shared import trust_option
from otorchestrator.exitcodes import ExitCode, exit_codes_help
from otorchestrator.intake.planfiles import file_kind
from otorchestrator.trust.signed import Kind, sign_file, verify_file
from otorchestrator.trust.sshsig import SshSigError
from otorchestrator.trust.trustfile import TrustError, find_trust

_KINDS = {"plan": Kind.PLAN, "wave plan": Kind.WAVEPLAN}


def _kind_of(path: Path, given: str | None) -> Kind:
    if given is not None:
        return Kind(given)
    if path.name.endswith(".approval.json"):
        return Kind.APPROVAL
    import json

    try:
        kind = file_kind(json.loads(path.read_bytes()))
    except ValueError:
        kind = "unknown"
    if kind not in _KINDS:
        raise click.UsageError(f"{path}: neither a plan nor a wave plan: pass --kind plan|waveplan|approval")
    return _KINDS[kind]


_KIND_OPTION = click.option(
    "--kind", type=click.Choice([k.value for k in Kind if k is not Kind.RUN]), default=None,
    help="What the file is (default: read from the file). Each kind signs in its own namespace.",
)  # fmt: skip


@click.command(epilog=exit_codes_help(ExitCode.ERROR))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key", required=True, envvar="OTORCH_SIGNING_KEY",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your SSH private key (or its .pub with the key in ssh-agent).",
)  # fmt: skip
@_KIND_OPTION
def sign(file: Path, key: Path, kind: str | None) -> None:
    """Sign a plan or wave plan: writes FILE.sig (ssh-keygen -Y sign, namespace otorch-<kind>).

    \b
    Examples:
      otorch sign out/plan.json --key ~/.ssh/id_ed25519
      otorch sign out/waves.json --key ~/.ssh/id_ed25519.pub   # the key in ssh-agent
    """
    what = _kind_of(file, kind)
    try:
        out = sign_file(file, key, what)
    except SshSigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{file}: signed as {what.value} -> {out}")


@click.command(epilog=exit_codes_help(ExitCode.INTEGRITY, ExitCode.ERROR))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@trust_option("Its signers verify the file.")
@_KIND_OPTION
def verify(file: Path, trust_file: Path | None, kind: str | None) -> None:
    """Verify FILE.sig against the site trust file: prints who signed it.

    \b
    Examples:
      otorch verify out/waves.json --trust /etc/otorchestrator/trust.yml
      otorch verify approvals/asset-nw-scada-a-bob-20261202T120000.approval.json
    """
    what = _kind_of(file, kind)
    try:
        trust = find_trust(trust_file)
        if trust is None:
            raise click.ClickException("no trust file: pass --trust or set OTORCH_TRUST_FILE")
        verified = verify_file(file, trust, what)
    except (TrustError, SshSigError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(ExitCode.INTEGRITY)
    click.echo(f"{file}: good {what.value} signature by {verified.signer} ({trust.path})")
