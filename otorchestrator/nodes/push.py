"""Push mode (``otorch_patch_mode: push``, air-gapped hosts) through an execution node: the ``.deb`` files the
job's hosts install are copied from the controller's ``otorch_artifact_dir`` into the job, so they travel in
the transmit stream; on the node the job's ``otorch_artifact_dir`` points at them, and ot_patch checks each
one's sha256 against the catalog there (its "controller" side is the node) before anything reaches a host,
as it does on the controller in a direct run."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from otorchestrator.execution.backend import HostsInventory
from otorchestrator.models.results import Phase

SUBDIR = "artifacts"  # under the job's project directory


def _var(name: str, host: str, extravars: Mapping[str, Any], inventory: HostsInventory) -> Any:
    return extravars.get(name, inventory.hosts.get(host, {}).get(name))


def ship(
    phase: Phase,
    hosts: Sequence[str],
    extravars: Mapping[str, Any],
    inventory: HostsInventory,
    project: Path,
) -> list[str] | None:
    """Copy the install's artifacts into ``project/artifacts``; returns the file names shipped (None: not a
    push-mode install). An artifact missing on the controller is not shipped: ot_patch on the node then
    refuses the host before it changes anything ("artifact not found")."""
    pushed = [h for h in hosts if _var("otorch_patch_mode", h, extravars, inventory) == "push"]
    if phase is not Phase.INSTALL or not pushed:
        return None
    shipped: list[str] = []
    patches = extravars.get("otorch_patches") or {}
    for host in pushed:
        source = Path(str(_var("otorch_artifact_dir", host, extravars, inventory) or ""))
        for patch in patches.get(host, []) if isinstance(patches, Mapping) else []:
            name = str(patch.get("artifact") or "")
            src = source / name
            if not name or "/" in name or name in shipped or not src.is_file() or src.is_symlink():
                continue
            dest = project / SUBDIR / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
            shipped.append(name)
    return shipped
