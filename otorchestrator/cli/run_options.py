"""The options of `otorch run|resume|status|rollback|abort` (one definition each), the exit-code epilog, and
the `RunRequest` they parse into."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from otorchestrator.app.run_request import RunRequest
from otorchestrator.cli._shared import trust_option
from otorchestrator.execution.backend import TRANSPORTS
from otorchestrator.execution.jobenv import MITOGEN_STRATEGY, TRANSPORT_ENV
from otorchestrator.execution.options import (
    DEFAULT_FORKS,
    MAX_FORKS,
    PHASE_TIMEOUT_FLOOR_S,
    TASK_TIMEOUT_DEFAULT_S,
)

EXIT_CODES_HELP = """\\b
Exit codes (run, resume, rollback; status reports the run's code with --exit-code):
  0  the run completed and every host succeeded
  1  unexpected error
  2  usage error
  3  completed, but some host did not succeed (blocked, rolled back, failed, unreachable, skipped)
  4  halted: a wave's failure budget was spent, a wave was declined, or a safety re-check failed
  5  refused, nothing started: run lock held by another run, safety check failed, wave plan changed
  6  operator attention: a host is rollback_failed or needs_reconcile
  7  aborted by an operator
 14  audit unavailable: a record could not be written or (on_failure: halt) forwarded; run halted
"""


def common_options(f: Any) -> Any:
    f = click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="State directory (default: $OTORCH_STATE_DIR or ./.otorch).",
    )(f)
    f = click.option(
        "--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout, no live display."
    )(f)
    return f


def operator_option(f: Any) -> Any:
    return click.option(
        "--operator",
        required=True,
        envvar="OTORCH_OPERATOR",
        help="Who runs this (recorded in the audit log).",
    )(f)


def execution_options(f: Any) -> Any:
    f = click.option(
        "-i", "--inventory", type=click.Path(exists=True, path_type=Path), default=None,
        help="Inventory (default: the wave plan's).",
    )(f)  # fmt: skip
    f = click.option(
        "--catalog", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        help="Patch catalog re-read to check nothing changed since approval "
        "(default: <inventory>/catalog.yml).",
    )(f)  # fmt: skip
    f = click.option(
        "--artifacts", type=click.Path(exists=True, file_okay=False, path_type=Path), multiple=True,
        help="Directory of patch artifacts whose sha256 is re-checked before every wave (repeatable).",
    )(f)  # fmt: skip
    f = click.option(
        "--no-artifact-check", is_flag=True,
        help="Do not re-check the patch artifacts' sha256 (when no artifact location is known); "
        "recorded in the audit log.",
    )(f)  # fmt: skip
    f = click.option(
        "--secret-var", "secret_vars", multiple=True, metavar="NAME",
        help="Pass variable NAME to the playbooks from env var NAME (or a hidden prompt); never logged.",
    )(f)  # fmt: skip
    f = click.option(
        "--phase-timeout", type=click.IntRange(min=1), default=None, metavar="SECONDS",
        help="Longest one phase run may take (default: twice the hosts' expected duration, at least "
        f"{PHASE_TIMEOUT_FLOOR_S} s); the whole run is then ended and its hosts are timed_out.",
    )(f)  # fmt: skip
    f = click.option(
        "--task-timeout", type=click.IntRange(min=1), default=None, metavar="SECONDS",
        help=f"Longest one task may take (default: {TASK_TIMEOUT_DEFAULT_S} s, at most the phase timeout); "
        "its host is then timed_out.",
    )(f)  # fmt: skip
    f = click.option(
        "--transport", type=click.Choice(TRANSPORTS), default=None,
        help="How the phases reach the hosts: ssh (OpenSSH with pipelining) or mitogen (Mitogen's "
        f"{MITOGEN_STRATEGY} strategy; needs the mitogen extra). Default: ${TRANSPORT_ENV}, else ssh.",
    )(f)  # fmt: skip
    f = click.option(
        "--forks", type=click.IntRange(1, MAX_FORKS), default=None, metavar="N",
        help=f"Hosts of a wave in their chain at once, 1-{MAX_FORKS} (default: {DEFAULT_FORKS}); each holds "
        "its fork from diagnostics to verify, shared fairly across zones run through nodes. "
        "Example: --forks 4.",
    )(f)  # fmt: skip
    f = click.option("--yes", "-y", is_flag=True, help="Do not ask before each wave after the first.")(f)
    f = trust_option("With one, the plan, the wave plan and approvals must be signed.")(f)
    f = click.option(
        "--plan", "plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        help="The signed plan the wave plan was staged from (checked: hash, items, patches).",
    )(f)  # fmt: skip
    f = click.option(
        "--key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        envvar="OTORCH_SIGNING_KEY", help="Your SSH key: proves you are --operator when the trust file "
        "lists operators (a .pub file: the key in ssh-agent).",
    )(f)  # fmt: skip
    f = click.option(
        "--approvals", "approvals_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Directory of signed approval files (default: the trust file's approvals_dir).",
    )(f)  # fmt: skip
    f = click.option(
        "--audit-config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        help="Site audit config: syslog forwarding and the checkpoint key (default: $OTORCH_AUDIT_CONFIG, "
        "else /etc/otorchestrator/audit.yml; docs/audit.md).",
    )(f)  # fmt: skip
    return f


def run_request(
    operator: str,
    secrets: dict[str, str],
    options: dict[str, Any],
    check: bool = False,
    wave: int | None = None,
) -> RunRequest:
    """The request `execution_options` parsed (`options`: the command's keyword arguments)."""
    return RunRequest(
        operator=operator, inventory=options["inventory"], catalog=options["catalog"],
        artifacts=tuple(options["artifacts"]), no_artifact_check=options["no_artifact_check"],
        secrets=secrets, phase_timeout_s=options["phase_timeout"], task_timeout_s=options["task_timeout"],
        trust_file=options["trust_file"], plan_file=options["plan_file"], key=options["key"],
        approvals_dir=options["approvals_dir"], check=check, wave=wave, transport=options["transport"],
        forks=options["forks"],
    )  # fmt: skip
