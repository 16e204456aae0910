"""What the engine asks a backend: the `PhaseRequest` of one phase of a run's hosts, built in one place
(inventory as data from execution/inventory.py, variables from execution/vars.py, timeouts from
execution/options.py, the run's id, label and transport)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from otorchestrator.execution.backend import PhaseRequest
from otorchestrator.execution.inventory import phase_inventory
from otorchestrator.execution.options import RunOptions, phase_timeout, task_timeout
from otorchestrator.execution.vars import phase_extravars
from otorchestrator.models.catalog import Patch
from otorchestrator.models.results import Phase
from otorchestrator.models.waves import WaveHost


def run_phase_request(
    options: RunOptions,
    phase: Phase,
    hosts: Sequence[WaveHost],
    patches: Mapping[str, Patch],
    *,
    run_id: str,
    label: str,
    backup_ids: Mapping[str, str | None] | None = None,
    extra: Mapping[str, Any] | None = None,
    probe: bool = False,
) -> PhaseRequest:
    """One phase of `hosts` of a run (`probe`: a read-only re-probe on resume, never in check mode).
    ValueError when a host is not in the run's inventory."""
    names = tuple(h.name for h in hosts)
    timeout = phase_timeout(options, phase, hosts)
    return PhaseRequest(
        phase=phase,
        hosts=names,
        inventory=(options.hosts_inventory or partial(phase_inventory, options.inventory))(names),
        extravars=phase_extravars(
            phase,
            hosts,
            patches,
            run_id=run_id,
            backup_ids=backup_ids,
            base={**options.extravars, **(extra or {})},
        ),
        secret_vars=options.secret_vars,
        check_mode=options.check_mode and not probe,
        timeout_s=timeout,
        task_timeout_s=task_timeout(options, timeout),
        run_id=run_id,
        run_label=label,
        transport=options.transport,
    )
