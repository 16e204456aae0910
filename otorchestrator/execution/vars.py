"""The variables each phase playbook receives (pure). Secrets never pass through here: they travel in
`PhaseRequest.secret_vars`, which the backend keeps off disk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from otorchestrator.models.catalog import Patch
from otorchestrator.models.results import Phase
from otorchestrator.models.waves import WaveHost


def host_patches(host: WaveHost, patches: Mapping[str, Patch]) -> list[Patch]:
    return [patches[pid] for pid in host.patch_ids if pid in patches]


def targets(host: WaveHost, patches: Mapping[str, Patch]) -> dict[str, str]:
    """package -> target version for the host's patches (apt mode)."""
    return {p.package: p.target_version for p in host_patches(host, patches) if p.package}


def phase_extravars(
    phase: Phase,
    hosts: Sequence[WaveHost],
    patches: Mapping[str, Patch],
    *,
    run_id: str,
    backup_ids: Mapping[str, str | None] | None = None,
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`otorch_patches`: host -> catalog entries (contracts.md section 4) in install order;
    `otorch_backup_ids`: host -> backup id (rollback); `otorch_run_id`."""
    data: dict[str, Any] = dict(base or {})
    data["otorch_run_id"] = run_id
    data["otorch_phase"] = phase.value
    data["otorch_patches"] = {
        h.name: [p.model_dump(mode="json", exclude_none=True) for p in host_patches(h, patches)]
        for h in hosts
    }
    if backup_ids is not None:
        data["otorch_backup_ids"] = {h: b for h, b in backup_ids.items() if b}
    return data
