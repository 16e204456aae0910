"""Where runs execute: backends found by name, so another place to run playbooks (a zone's execution node,
an AWX job template) is one new module and one entry point, not an edit of the CLI.

A backend is a class taking the run's `StatePaths` and implementing `execution.backend.Backend` (`run_phase`,
`end_orphans`, `backups`: checked when it is loaded). It is named
by an entry point in the group ``otorchestrator.backends`` (``pyproject.toml``:
``[project.entry-points."otorchestrator.backends"]``, ``name = "package.module:Class"``). The project's own
backends are also known without package metadata (a source checkout that was not reinstalled). Which one a
command uses: ``$OTORCH_BACKEND``, default ``ansible-runner``. The module is imported only when chosen
(`ansible_runner` stays out of every other command).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from otorchestrator.execution.backend import Backend, BackupStore
from otorchestrator.store.paths import StatePaths

GROUP = "otorchestrator.backends"
DEFAULT = "ansible-runner"
BUILTIN: Mapping[str, str] = {
    "ansible-runner": "otorchestrator.execution.ansible:AnsibleRunnerBackend",
    "nodes": "otorchestrator.nodes.backend:NodesBackend",
}


class BackendNotFound(LookupError):
    pass


def available() -> dict[str, str]:
    """Backend name -> ``module:Class``: the built-in ones and every installed entry point of the group."""
    found = dict(BUILTIN)
    for entry in metadata.entry_points(group=GROUP):
        found[entry.name] = entry.value
    return found


def chosen_name(env: Mapping[str, str] | None = None) -> str:
    return (os.environ if env is None else env).get("OTORCH_BACKEND", "") or DEFAULT


def _load(name: str, target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise BackendNotFound(f"backend {name!r}: cannot import {module_name} ({exc})") from exc
    try:
        return getattr(module, attribute)
    except AttributeError as exc:
        raise BackendNotFound(f"backend {name!r}: {module_name} has no {attribute}") from exc


def load_backend(paths: StatePaths, name: str | None = None) -> Backend:
    """The backend called `name` (default: $OTORCH_BACKEND or ansible-runner), built for this state dir."""
    name = name or chosen_name()
    known = available()
    if name not in known:
        choices = ", ".join(sorted(known))
        raise BackendNotFound(f"no backend {name!r} (OTORCH_BACKEND); installed: {choices}")
    backend: Backend = _load(name, known[name])(paths)
    lacking = [
        what
        for what, ok in (
            ("run_phase", callable(getattr(backend, "run_phase", None))),
            ("end_orphans", callable(getattr(backend, "end_orphans", None))),
            ("backups", isinstance(getattr(backend, "backups", None), BackupStore)),
        )
        if not ok
    ]
    if lacking:
        raise BackendNotFound(f"backend {name!r} ({known[name]}) has no {', '.join(lacking)}: not a Backend")
    return backend
