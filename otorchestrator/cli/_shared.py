"""Helpers shared by `otorch scan`, `otorch drift` and `otorch drill`: state paths, the inventory, the
Ansible backend (constructed lazily: only execution/ansible.py imports ansible_runner)."""

from __future__ import annotations

import getpass
import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from otorchestrator.execution.backend import Backend
from otorchestrator.intake.inventory import load_inventory
from otorchestrator.models.asset import Asset
from otorchestrator.store.paths import StatePaths

BACKEND_MODULE = "otorchestrator.execution.ansible"


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


def resolve_paths(state_dir: Path | None) -> StatePaths:
    return StatePaths.resolve(state_dir, os.environ).ensure()


def default_operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def load_assets(inventory: Path) -> list[Asset]:
    try:
        return list(load_inventory(inventory).assets)
    except ValueError as exc:  # InventoryError / IntakeError carry every problem
        raise click.ClickException(str(exc)) from exc


def limit_assets(assets: Sequence[Asset], limit: str | None) -> list[Asset]:
    """`limit`: comma-separated host or group names (`all` for every host)."""
    if not limit:
        return list(assets)
    wanted = {part.strip() for part in limit.split(",") if part.strip()}
    chosen = [a for a in assets if "all" in wanted or a.name in wanted or wanted & set(a.groups)]
    known = {a.name for a in assets} | {g for a in assets for g in a.groups} | {"all"}
    unknown = sorted(wanted - known)
    if unknown:
        raise click.UsageError(f"--limit names no host or group: {', '.join(unknown)}")
    return chosen


def make_backend(paths: StatePaths) -> Backend:
    """The real AnsibleRunnerBackend (execution/ansible.py)."""
    try:
        module = importlib.import_module(BACKEND_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name == BACKEND_MODULE:
            raise click.ClickException(
                f"the Ansible backend ({BACKEND_MODULE}) is not part of this build yet"
            ) from exc
        raise
    backend_class = module.AnsibleRunnerBackend
    backend: Backend = backend_class(paths)
    return backend
