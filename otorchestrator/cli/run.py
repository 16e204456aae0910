"""`otorch run|resume|status|rollback|abort`: execute a wave plan and act on runs. Thin: parse the options,
call `otorchestrator.app.runs`, render what it returns.

Exit codes: see EXIT_CODES_HELP (cli/run_options.py; also in each command's --help).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from otorchestrator.app import runs
from otorchestrator.app.run_request import secret_channel_problem
from otorchestrator.app.runs import RunOutcome
from otorchestrator.app.session import Caller
from otorchestrator.cli._shared import app_errors, make_backend, warn
from otorchestrator.cli.progress import make_observer, summary_table
from otorchestrator.cli.run_options import (
    EXIT_CODES_HELP,
    common_options,
    execution_options,
    operator_option,
    run_request,
)
from otorchestrator.execution.observer import NullObserver, Observer
from otorchestrator.models.waves import Wave


def read_secrets(names: Sequence[str]) -> dict[str, str]:
    """Each `--secret-var NAME` from the environment variable NAME, else a hidden prompt. Never echoed.

    The variable is removed from this process's environment once read: ansible-runner copies the
    environment into its artifacts (`artifacts/<ident>/command`), so an inherited secret would land on disk.
    """
    secret_channel_problem(names)  # refuse before reading anything: secrets never go to a disk file
    values: dict[str, str] = {}
    for name in names:
        value = os.environ.pop(name, None)
        if value is None:
            value = click.prompt(f"value of secret variable {name}", hide_input=True, err=True)
        values[name] = value
    return values


def ask_before_wave(yes: bool) -> Callable[[Wave], bool] | None:
    if yes:
        return None

    def ask(wave: Wave) -> bool:
        hosts = ", ".join(h.name for h in wave.hosts)
        try:
            return click.confirm(f"Start wave {wave.index} ({wave.name}: {hosts})?", default=False, err=True)
        except click.Abort:
            return False

    return ask


def caller(
    state_dir: Path | None,
    observer: Observer,
    yes: bool = True,
    audit_config: Path | None = None,
) -> Caller:
    """The CLI's side of a call: its state dir, the registry's backend, the progress display, the wave
    prompt, warnings on stderr."""
    return Caller(
        state_dir=state_dir, backend=make_backend, observers=(observer,), confirm=ask_before_wave(yes),
        warn=warn, audit_config=audit_config,
    )  # fmt: skip


def render(outcome: RunOutcome, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    summary, paths = outcome.summary, outcome.paths
    where = {"state_db": str(paths.db), "audit_log": str(paths.audit), **(extra or {})}
    if as_json:
        click.echo(json.dumps({**summary.to_json(), **where}, indent=2, default=str))
        return
    console = Console()
    console.print(summary_table(summary))
    counts = ", ".join(f"{n} {state}" for state, n in summary.counts.items())
    console.print(f"[bold]{summary.run.status.value}[/bold]: {counts}")
    if summary.run.status_detail:
        console.print(f"  {summary.run.status_detail}")
    for host, files in outcome.admitted.items():  # docs/trust.md
        console.print(f"  {host} admitted by signed approval {', '.join(files)}")
    for key, value in where.items():
        console.print(f"  {key.replace('_', ' ')}: {value}")


@click.command(epilog=EXIT_CODES_HELP)
@click.argument(
    "waveplan_file", metavar="WAVES_JSON", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--wave", type=int, default=None, help="Run only this wave (its index).")
@click.option("--check", is_flag=True, help="Run the whole chain in Ansible check mode: nothing changes.")
@execution_options
@operator_option
@common_options
@app_errors
def run(
    waveplan_file: Path,
    wave: int | None,
    check: bool,
    operator: str,
    state_dir: Path | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Run a wave plan wave by wave: diagnostics, backup, install, verify per host; rollback on failure.

    Asks before every wave after the first unless --yes. A wave whose failure budget is spent halts the
    run: `otorch resume RUN` goes on after an operator looked. Exit codes below.

    \b
    Examples:
      otorch run out/waves.json --check                       # the whole chain in check mode
      otorch run out/waves.json --wave 0 --trust site/trust.yml --plan out/plan.json \\
        --key ~/.ssh/id_ed25519 --operator alice              # the canary wave, signed and proven
      otorch run out/waves.json --yes --json > run.json       # unattended, JSON on stdout
      otorch run out/waves.json --yes --forks 4               # at most 4 hosts of a wave at once
    """
    secrets = read_secrets(options["secret_vars"])
    request = run_request(operator, secrets, options, check=check, wave=wave)
    observer, live = make_observer(as_json)
    with live:
        outcome = runs.start_run(
            waveplan_file, request, caller(state_dir, observer, options["yes"], options["audit_config"])
        )
    render(outcome, as_json)
    sys.exit(int(outcome.exit_code))


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("run_id", metavar="RUN")
@execution_options
@operator_option
@common_options
@app_errors
def resume(run_id: str, operator: str, state_dir: Path | None, as_json: bool, **options: Any) -> None:
    """Resume a crashed or halted run. Hosts caught mid-step are re-probed (installed versions, service
    health) before anything acts on them; no host is installed twice. An aborted run is only reconciled.

    \b
    Examples:
      otorch status                        # which run, which hosts, who holds the lock
      otorch resume run-20261202-120000-1a2b --yes
      otorch resume run-20261202-120000-1a2b --yes --forks 2  # the rest of the run, 2 hosts at once
      otorch resume run-20261202-120000-1a2b --trust site/trust.yml --key ~/.ssh/id_ed25519
    """
    secrets = read_secrets(options["secret_vars"])
    request = run_request(operator, secrets, options)
    observer, live = make_observer(as_json)
    with live:
        outcome = runs.resume(
            run_id, request, caller(state_dir, observer, options["yes"], options["audit_config"])
        )
    render(outcome, as_json)
    sys.exit(int(outcome.exit_code))


@click.command()
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--exit-code", is_flag=True, help="Exit with the run's exit code (see `otorch run --help`).")
@common_options
@app_errors
def status(run_id: str | None, exit_code: bool, state_dir: Path | None, as_json: bool) -> None:
    """Show a run's hosts and states (default: the latest run), and who holds the run lock.

    \b
    Examples:
      otorch status
      otorch status run-20261202-120000-1a2b --json | jq '.hosts'
      otorch status --exit-code || echo "the latest run did not fully succeed"
    """
    found = runs.status(state_dir, run_id)
    summary, record = found.summary, found.summary.run
    lock = found.lock_holder.describe() if found.lock_holder else None
    console = Console()
    if as_json:
        click.echo(json.dumps({**summary.to_json(), "lock_holder": lock}, indent=2, default=str))
    else:
        console.print(summary_table(summary))
        counts = ", ".join(f"{n} {state}" for state, n in summary.counts.items())
        console.print(
            f"[bold]{record.status.value}[/bold]: {counts}  (started {record.started_at:%Y-%m-%d %H:%M:%S})"
        )
        if record.status_detail:
            console.print(f"  {record.status_detail}")
        console.print(f"  run lock: {lock or 'free'}")
    if exit_code:
        sys.exit(int(summary.exit_code))


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("run_id", metavar="RUN")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Roll back only this host (repeatable; default: every succeeded host).",
)
@click.option(
    "-i",
    "--inventory",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Inventory (default: the one the run used).",
)
@click.option("--secret-var", "secret_vars", multiple=True, metavar="NAME", help="As for `otorch run`.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@operator_option
@common_options
@app_errors
def rollback(
    run_id: str,
    hosts: tuple[str, ...],
    inventory: Path | None,
    secret_vars: tuple[str, ...],
    yes: bool,
    operator: str,
    state_dir: Path | None,
    as_json: bool,
) -> None:
    """Roll hosts of a run back to the backup taken before their install.

    \b
    Examples:
      otorch rollback run-20261202-120000-1a2b --host nw-hmi-02
      otorch rollback run-20261202-120000-1a2b --yes --json     # every succeeded host of the run
    """
    secrets = read_secrets(secret_vars)
    observer, live = make_observer(as_json)

    def confirm(question: str) -> bool:
        return yes or click.confirm(question, default=False, err=True)

    with live:
        outcome = runs.rollback(
            run_id, hosts, operator, caller(state_dir, observer),
            inventory=inventory, secrets=secrets, confirm=confirm,
        )  # fmt: skip
    render(outcome, as_json)
    sys.exit(int(outcome.exit_code))


@click.command()
@click.argument("run_id", metavar="RUN")
@operator_option
@common_options
@app_errors
def abort(run_id: str, operator: str, state_dir: Path | None, as_json: bool) -> None:
    """Abort a run. A live run is asked to stop: it starts no new host, lets installed hosts finish verify
    (and roll back on failure), then ends `aborted`. A run that is not live is marked aborted here.

    \b
    Examples:
      otorch abort run-20261202-120000-1a2b        # from a second terminal while the run is live
      otorch status run-20261202-120000-1a2b       # then: the hosts it left, each in a known state
    """
    outcome = runs.abort(run_id, operator, caller(state_dir, NullObserver()))
    result = outcome.result
    if as_json:
        click.echo(json.dumps({"run_id": run_id, "requested": result.requested, "detail": result.detail}))
    else:
        Console().print(("abort requested: " if result.requested else "aborted: ") + result.detail)
    sys.exit(int(outcome.exit_code))
