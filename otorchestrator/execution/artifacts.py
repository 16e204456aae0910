"""Read patch artifacts from disk to re-check their sha256 at run time (the one I/O part of the safety
checks; the comparison itself is `safety.check_artifacts`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from otorchestrator.models.catalog import Patch


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_digests(patches: Sequence[Patch], directories: Sequence[Path]) -> dict[str, str | None]:
    """patch id -> sha256 of its artifact found in the first directory holding it (None: not found).
    Patches without an artifact name are left out (nothing to check)."""
    out: dict[str, str | None] = {}
    for patch in patches:
        if not patch.artifact:
            continue
        found = next((d / patch.artifact for d in directories if (d / patch.artifact).is_file()), None)
        out[patch.id] = sha256_file(found) if found is not None else None
    return out
