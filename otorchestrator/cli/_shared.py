"""Helpers shared by the `otorch` commands: state paths, the inventory and `--limit` (Ansible host patterns),
`--json` output, the exit codes (otorchestrator/exitcodes.py), the Ansible backend (constructed lazily: only
execution/ansible.py imports ansible_runner). docs/cli.md describes the conventions."""

from __future__ import annotations

import functools
import getpass
import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from pydantic import BaseModel

from otorchestrator.app.clock import MomentError, parse_moment
from otorchestrator.app.errors import AppError
from otorchestrator.execution.backend import Backend
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.asset import Asset
from otorchestrator.store.paths import StatePaths


def state_dir_option(f: Any) -> Any:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="State directory (default: $OTORCH_STATE_DIR or ./.otorch).",
    )(f)


def inventory_option(f: Any) -> Any:
    return click.option(
        "-i",
        "--inventory",
        type=click.Path(exists=True, path_type=Path),
        required=True,
        help="Ansible inventory with OT host variables (file or directory).",
    )(f)


LIMIT_HELP = (
    "Ansible host pattern: hosts, groups, globs (nw-hmi-*), ~regex, a:b or a,b lists, &group (and), "
    "!group (not), @file (default: every host)."
)


def limit_option(f: Any) -> Any:
    return click.option("--limit", "-l", "limit", default=None, metavar="PATTERN", help=LIMIT_HELP)(f)


def json_option(f: Any) -> Any:
    """`--json`: the command's result as one JSON document on stdout (human text moves to stderr or goes)."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print the result as JSON on stdout (for scripts and jq)."
    )(f)


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def emit_json(value: Any) -> None:
    """Write `value` (dicts, lists, pydantic models, paths) as indented JSON to stdout."""
    click.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False, default=str))


class CommandError(click.ClickException):
    """An error message and the exit code it means (otorchestrator/exitcodes.py)."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR) -> None:
        super().__init__(message)
        self.exit_code = int(code)  # type: ignore[misc]  # click reads the instance attribute


def fail(message: str, code: ExitCode) -> NoReturn:
    raise CommandError(message, code)


def no_state_store(paths: StatePaths) -> CommandError:
    """The one "no state store" error (store/paths.py `missing_store` names where runs are recorded)."""
    return CommandError(paths.missing_store() or f"no state store at {paths.db}", ExitCode.NO_STATE)


def existing_paths(state_dir: Path | None) -> StatePaths:
    """The state paths of a store that must already exist (exit NO_STATE otherwise; nothing created)."""
    paths = StatePaths.resolve(state_dir, os.environ)
    if not paths.db.exists():
        raise no_state_store(paths)
    return paths


def resolve_paths(state_dir: Path | None) -> StatePaths:
    return StatePaths.resolve(state_dir, os.environ).ensure()


def default_operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def load_assets(inventory: Path) -> list[Asset]:
    """The inventory's OT assets (app.scans.inventory_assets); INPUT_INVALID with every problem."""
    from otorchestrator.app import scans

    try:
        return scans.inventory_assets(inventory)
    except AppError as exc:
        raise click_error(exc) from exc


def limit_assets(assets: Sequence[Asset], limit: str | None) -> list[Asset]:
    """The assets a host pattern selects (app.scans.limit_assets); a bad pattern is a bad --limit."""
    from otorchestrator.app import scans

    try:
        return scans.limit_assets(assets, limit)
    except scans.OptionError as exc:
        raise click.BadParameter(exc.message, param_hint=exc.option) from exc


def make_backend(paths: StatePaths) -> Backend:
    """The backend from the registry (execution/registry.py): $OTORCH_BACKEND, default ansible-runner."""
    from otorchestrator.app.session import registry_backend

    try:
        return registry_backend(paths)
    except AppError as exc:
        raise click.UsageError(str(exc)) from exc


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def site_audit_sinks(paths: StatePaths) -> list[Any]:
    """The site audit config's sinks (syslog forwarding, checkpoint signing), as `otorch run` uses them:
    every command that writes audit records forwards them (docs/audit.md)."""
    from otorchestrator.app.session import audit_sinks_for

    try:
        return list(audit_sinks_for(None, paths, warn))
    except AppError as exc:
        raise click_error(exc) from exc


def click_error(exc: AppError) -> click.ClickException:
    """An application error as click shows it: a usage error (exit 2), else the message and its code."""
    if exc.usage:
        return click.UsageError(exc.message)
    return CommandError(exc.message, exc.code)


F = TypeVar("F", bound=Callable[..., Any])


def app_errors(f: F) -> F:
    """Decorate a command: an `AppError` from the application layer exits with its message and code."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except AppError as exc:
            raise click_error(exc) from exc

    return wrapper  # type: ignore[return-value]


TRUST_DEFAULT = "default: $OTORCH_TRUST_FILE, else /etc/otorchestrator/trust.yml if present; docs/trust.md"


def trust_option(effect: str) -> Callable[[F], F]:
    """`--trust FILE`, the site trust file, with what it does for this command (`effect`)."""
    return click.option(
        "--trust", "trust_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help=f"Site trust file ({TRUST_DEFAULT}). {effect}",
    )  # fmt: skip


class MomentType(click.ParamType):
    """An ISO-8601 moment (`app.clock.parse_moment`): with a UTC offset, or naive as UTC if allowed."""

    name = "ISO-8601"

    def __init__(self, naive_is_utc: bool = False) -> None:
        self.naive_is_utc = naive_is_utc

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_moment(str(value), naive_is_utc=self.naive_is_utc)
        except MomentError as exc:
            self.fail(str(exc), param, ctx)


def now_option(help_text: str) -> Callable[[F], F]:
    """`--now ISO-8601` (with an offset): the moment a command evaluates at; None: the clock's now
    (`app.clock.now_seconds`)."""
    return click.option("--now", "now", type=MomentType(), default=None, metavar="ISO-8601", help=help_text)


def plan_input_options(f: Any) -> Any:
    """The planner's inputs besides the advisories (`otorch plan`, `otorch watch`): -i, --catalog,
    --exemptions, --approvals (docs/formats.md has each file's format)."""
    file = click.Path(exists=True, dir_okay=False, path_type=Path)
    for decorate in reversed(
        (
            click.option(
                "-i", "--inventory", "inventory_path", required=True,
                type=click.Path(exists=True, path_type=Path),
                help="Ansible inventory (file or directory) with the OT variables (docs/inventory.md).",
            ),
            click.option(
                "--catalog", required=True, type=file,
                help="Patch catalog YAML: artifacts, hashes, vendor qualification (docs/formats.md).",
            ),
            click.option(
                "--exemptions", type=file,
                help="Exemptions YAML: compensating controls, approver, expiry (docs/formats.md).",
            ),
            click.option(
                "--approvals", type=file,
                help="YAML list of approvals (kind, subject, approved_by, reason, at; docs/formats.md).",
            ),
        )
    ):  # fmt: skip
        f = decorate(f)
    return f
