"""What a run is asked to do: typed options passed to the orchestrator (no globals, no kwargs bags)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otorchestrator.execution.backend import Backend, HostsInventory, Transport
from otorchestrator.models.catalog import Catalog
from otorchestrator.models.results import Phase
from otorchestrator.models.waves import Wave, WaveHost

if TYPE_CHECKING:
    from otorchestrator.execution.authority import Authority

DEFAULT_FORKS = 10
MAX_FORKS = 256  # `--forks` accepts 1..MAX_FORKS (one worker thread and one host chain each)
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
    # None: derived per phase from the hosts' expected durations (`phase_timeout`, `task_timeout`)
    phase_timeout_s: int | None = None
    task_timeout_s: int | None = None
    # re-read at the start and before every wave; compared with what the wave plan approved
    catalog: Callable[[], Catalog] | None = None
    artifact_digests: Callable[[], Mapping[str, str | None]] | None = None
    # the operator turned the artifact re-check off (`--no-artifact-check`): why, audited at start
    artifact_check_override: str | None = None
    # asked before every wave after the first one this invocation runs; False halts the run
    confirm: Callable[[Wave], bool] | None = None
    abort_requested: Callable[[], bool] | None = None
    # on resume, before probing: end what the crashed run left running (given the backend and the run id;
    # app/run_request.py's calls `Backend.end_orphans` and refuses to go on when something survived)
    wait_for_orphans: Callable[[Backend, str], None] | None = None
    run_id: str | None = None
    waveplan_path: str | None = None
    plan_path: str | None = None
    # signatures, staged-from, and every host's facts re-derived before it starts (execution/authority.py)
    authority: Authority | None = None
    # how the soak between waves waits (execution/soak.py); None: time.sleep (tests pass a fake clock's)
    sleep: Callable[[float], None] | None = None
    transport: Transport = "ssh"  # how the phases reach the hosts (PhaseRequest.transport)
    # a phase's hosts as data; None: read from `inventory` in-process (execution/inventory.phase_inventory)
    hosts_inventory: Callable[[Sequence[str]], HostsInventory] | None = None
    # hosts of a wave in their chain at once (execution/hostchain.py); 1: one host at a time, in order
    forks: int = DEFAULT_FORKS


PHASE_TIMEOUT_FLOOR_S = 600  # no phase run is given less (ssh, facts, apt on a slow host)
PHASE_TIMEOUT_FACTOR = 2  # margin over the patch's expected duration
TASK_TIMEOUT_DEFAULT_S = 600  # one task (an apt install, a health wait)


def phase_timeout(options: RunOptions, phase: Phase, hosts: Sequence[WaveHost]) -> int:
    """Seconds one phase run (all its hosts, in parallel) may take: `--phase-timeout`, else twice the
    longest expected duration of its hosts (the rollback duration for a rollback), at least the floor."""
    if options.phase_timeout_s is not None:
        return options.phase_timeout_s
    minutes = max(
        ((h.rollback_minutes if phase is Phase.ROLLBACK else h.duration_minutes) for h in hosts), default=0
    )
    return max(PHASE_TIMEOUT_FLOOR_S, PHASE_TIMEOUT_FACTOR * 60 * minutes)


def task_timeout(options: RunOptions, phase_timeout_s: int) -> int:
    """Seconds one task may take: `--task-timeout`, else the default, never more than the phase's."""
    if options.task_timeout_s is not None:
        return options.task_timeout_s
    return min(TASK_TIMEOUT_DEFAULT_S, phase_timeout_s)
