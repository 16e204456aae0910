"""Read patch artifacts from disk to re-check their sha256 at run time (the one I/O part of the safety
checks; the comparison itself is `safety.check_artifacts`).

An artifact is looked up in each directory in turn: by the catalog's `artifact` file name, else (apt mode)
as the package the host will install: the `Filename` of `package`/`target_version` in the directory's
flat APT index (`Packages`), else `<package>_<target_version>_*.deb`.
"""

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


def _apt_index(directory: Path) -> dict[tuple[str, str], str]:
    """(package, version) -> Filename from a flat repository's `Packages` index (empty if none)."""
    index = directory / "Packages"
    if not index.is_file():
        return {}
    out: dict[tuple[str, str], str] = {}
    for stanza in index.read_text(errors="replace").split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith((" ", "\t")):
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
        if {"Package", "Version", "Filename"} <= fields.keys():
            out[(fields["Package"], fields["Version"])] = fields["Filename"]
    return out


def find_artifact(patch: Patch, directory: Path) -> Path | None:
    """The file of this patch in `directory`, or None."""
    if patch.artifact and (directory / patch.artifact).is_file():
        return directory / patch.artifact
    if patch.package and patch.target_version:
        name = _apt_index(directory).get((patch.package, patch.target_version))
        if name is not None and (directory / name).is_file():
            return (directory / name).resolve()
        if not patch.artifact:
            matches = sorted(directory.glob(f"{patch.package}_{patch.target_version}_*.deb"))
            if matches:
                return matches[0]
    return None


def checked_patches(patches: Sequence[Patch]) -> list[Patch]:
    """The patches whose artifact hash is re-checked: those with a sha256 or an artifact file name."""
    return [p for p in patches if p.sha256 or p.artifact]


def artifact_digests(patches: Sequence[Patch], directories: Sequence[Path]) -> dict[str, str | None]:
    """patch id -> sha256 of its artifact found in the first directory holding it (None: not found).
    Patches with neither a sha256 nor an artifact name are left out (nothing to check)."""
    out: dict[str, str | None] = {}
    for patch in checked_patches(patches):
        found = next((f for d in directories if (f := find_artifact(patch, d)) is not None), None)
        out[patch.id] = sha256_file(found) if found is not None else None
    return out
