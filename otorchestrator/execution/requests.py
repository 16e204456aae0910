"""What the engine asks a backend: the `PhaseRequest` of one phase of a run's hosts (a wave's, a drill's)
or of a scan, built in one place (inventory as data from execution/inventory.py, variables from
execution/vars.py, timeouts from execution/options.py, the run's id, label and transport)."""

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
    extravars = phase_extravars(
        phase,
        hosts,
        patches,
        run_id=run_id,
        backup_ids=backup_ids,
        base={**options.extravars, **(extra or {})},
    )
    timeout = phase_timeout(options, phase, hosts)
    names = tuple(h.name for h in hosts)
    return _request(
        options, phase, names, extravars, timeout, run_id, label, options.check_mode and not probe
    )


SCAN_TIMEOUT_S = 900  # a scan's phase run, unless --phase-timeout says otherwise


def scan_request(
    options: RunOptions, patches_by_host: Mapping[str, Sequence[Patch]], *, run_id: str, label: str
) -> PhaseRequest:
    """The read-only scan of the hosts of `patches_by_host` (host -> the catalog entries whose config files
    are hashed, `otorch_patches` as every phase playbook reads it), never in check mode. ValueError when a
    host is not in the inventory."""
    extravars = {
        **options.extravars,
        "otorch_run_id": run_id,
        "otorch_phase": Phase.SCAN.value,
        "otorch_patches": {
            host: [p.model_dump(mode="json", exclude_none=True) for p in patches]
            for host, patches in patches_by_host.items()
        },
    }
    timeout = options.phase_timeout_s or SCAN_TIMEOUT_S
    return _request(options, Phase.SCAN, tuple(patches_by_host), extravars, timeout, run_id, label, False)


def _request(
    options: RunOptions,
    phase: Phase,
    names: tuple[str, ...],
    extravars: Mapping[str, Any],
    timeout: int,
    run_id: str,
    label: str,
    check_mode: bool,
) -> PhaseRequest:
    return PhaseRequest(
        phase=phase,
        hosts=names,
        inventory=(options.hosts_inventory or partial(phase_inventory, options.inventory))(names),
        extravars=extravars,
        secret_vars=options.secret_vars,
        check_mode=check_mode,
        timeout_s=timeout,
        task_timeout_s=task_timeout(options, timeout),
        run_id=run_id,
        run_label=label,
        transport=options.transport,
    )
