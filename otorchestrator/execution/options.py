"""What a run is asked to do: typed options passed to the orchestrator (no globals, no kwargs bags)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otorchestrator.models.catalog import Catalog
from otorchestrator.models.waves import Wave

HALTED = "halted: "  # detail prefix of hosts skipped because the rollout halted (released on resume)
ABORTED = "aborted: "  # detail prefix of hosts skipped because an operator aborted (never released)


@dataclass(frozen=True)
class RunOptions:
    operator: str
    inventory: Path
    check_mode: bool = False
    only_wave: int | None = None  # `--wave N`: register and run only this wave's hosts
    extravars: Mapping[str, Any] = field(default_factory=dict)
    secret_vars: Mapping[str, str] = field(default_factory=dict, repr=False)  # never written anywhere
    phase_timeout_s: int = 1800
    task_timeout_s: int = 600
    # re-read at the start and before every wave; compared with what the wave plan approved
    catalog: Callable[[], Catalog] | None = None
    artifact_digests: Callable[[], Mapping[str, str | None]] | None = None
    # asked before every wave after the first one this invocation runs; False halts the run
    confirm: Callable[[Wave], bool] | None = None
    abort_requested: Callable[[], bool] | None = None
    # on resume, before probing: wait until processes left by the crashed run (ansible-playbook) are gone
    wait_for_orphans: Callable[[str], None] | None = None
    run_id: str | None = None
    waveplan_path: str | None = None
    plan_path: str | None = None
