"""Entry point of `otorch`. Subcommands live one per module and are imported lazily."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import click

from otorchestrator import __version__, logs

# command name -> "module:attribute"; a module owns exactly one command (or group)
COMMANDS: dict[str, str] = {
    "lab": "otorchestrator.cli.lab:lab",
    "inventory": "otorchestrator.cli.inventory:inventory",
    "plan": "otorchestrator.cli.plan:plan",
    "waves": "otorchestrator.cli.waves:waves",
    "scan": "otorchestrator.cli.scan:scan",
    "run": "otorchestrator.cli.run:run",
    "resume": "otorchestrator.cli.run:resume",
    "status": "otorchestrator.cli.run:status",
    "rollback": "otorchestrator.cli.run:rollback",
    "abort": "otorchestrator.cli.run:abort",
    "audit": "otorchestrator.cli.audit:audit",
    "report": "otorchestrator.cli.report:report",
    "drift": "otorchestrator.cli.records:drift",
    "records": "otorchestrator.cli.records:records",
    "drill": "otorchestrator.cli.drill:drill",
    "demo": "otorchestrator.cli.demo:demo",
    "sign": "otorchestrator.cli.sign:sign",
    "verify": "otorchestrator.cli.sign:verify",
    "approve": "otorchestrator.cli.approve:approve",
    "feeds": "otorchestrator.cli.feeds:feeds",
    "watch": "otorchestrator.cli.watch:watch",
    "schema": "otorchestrator.cli.schema:schema",
    "nodes": "otorchestrator.cli.nodes:nodes",
}


def _load(name: str) -> click.Command | None:
    module_name, _, attr = COMMANDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:  # not written yet: hide the command
            return None
        raise
    command = getattr(module, attr, None)
    return command if isinstance(command, click.Command) else None


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _load(cmd_name) if cmd_name in COMMANDS else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="otorch")
@click.option("-v", "--verbose", count=True, help="More log records on stderr: -v INFO, -vv DEBUG.")
@click.option("-q", "--quiet", count=True, help="Fewer log records: -q errors only, -qq critical only.")
@click.option(
    "--log-format",
    type=click.Choice(logs.FORMATS),
    default="text",
    show_default=True,
    envvar=logs.ENV_FORMAT,
    show_envvar=True,
    help="Log records as text lines or one JSON object a line (for a SIEM or journald).",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar=logs.ENV_FILE,
    show_envvar=True,
    help="Append the log records to this file too.",
)
def cli(verbose: int, quiet: int, log_format: logs.LogFormat, log_file: Path | None) -> None:
    """Patch OT/ICS hosts safely through Ansible: plan, stage waves, run, prove.

    \b
    Typical flow in a maintenance window:
      otorch inventory validate -i inventories/lab
      otorch plan -i inventories/lab --advisories DIR --catalog catalog.yml -o plan.json
      otorch waves plan.json -i inventories/lab -o waves.json
      otorch run waves.json --operator alice
      otorch report RUN --html report.html

    \b
    Examples:
      otorch -v scan -i inventories/lab --limit 'role_hmi:!nw-hmi-02'
      otorch --log-format json --log-file /var/log/otorch.jsonl -v run waves.json --operator alice
      OTORCH_LOG_LEVEL=DEBUG otorch status --json
      eval "$(_OTORCH_COMPLETE=bash_source otorch)"     # shell completion (docs/cli.md)

    Log level without -v/-q: $OTORCH_LOG_LEVEL (DEBUG, INFO, WARNING, ERROR), default WARNING.
    Exit codes are the same for every command: docs/cli.md.
    """
    try:
        level = logs.level_from(verbose, quiet, os.environ)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    logs.configure(level, log_format, log_file)
    ctx = click.get_current_context()
    # the command name only: arguments can hold secrets (report --secret)
    logging.getLogger(__name__).debug(
        "otorch %s %s", __version__, ctx.invoked_subcommand or "", extra={"command": ctx.invoked_subcommand}
    )


def main() -> None:
    sys.exit(cli.main(standalone_mode=True))
