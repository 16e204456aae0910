"""Read patch artifacts from disk to re-check their sha256 at run time (the one I/O part of the safety
checks; the comparison itself is `safety.check_artifacts`), and per host, just before its install,
`recheck_hosts` against the catalog as it is then.

An artifact is looked up in each directory in turn: by the catalog's `artifact` file name, else (apt mode)
as the package the host will install: the `Filename` of `package`/`target_version` in the directory's
flat APT index (`Packages`), else `<package>_<target_version>_*.deb`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.models.catalog import Patch
from otorchestrator.models.waves import WaveHost, WavePlan


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


Digests = Callable[[Sequence[Patch]], Mapping[str, str | None]]  # patches -> id -> sha256 (None: not found)


@dataclass(frozen=True)
class ArtifactRecheck:
    """One host's artifacts re-hashed just before its install (audit event `artifact_recheck`)."""

    host: str
    against: str  # "catalog" | "waveplan": whose sha256 the artifact was compared with
    patches: tuple[dict[str, object], ...]  # patch_id, expected_sha256, actual_sha256, ok
    reason: str | None  # None: every artifact matches

    @property
    def ok(self) -> bool:
        return self.reason is None

    def detail(self) -> dict[str, object]:
        out: dict[str, object] = {"against": self.against, "patches": list(self.patches)}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def recheck_hosts(
    waveplan: WavePlan, hosts: Sequence[WaveHost], catalog: Mapping[str, Patch] | None, digests: Digests
) -> list[ArtifactRecheck]:
    """Each host's patches (as the catalog says them now, else the wave plan's copy) with their artifact
    re-hashed by `digests` (called once: every distinct artifact is read once). A host with nothing to
    check is left out."""
    source = catalog if catalog is not None else waveplan.patch_map()
    against = "catalog" if catalog is not None else "waveplan"
    wanted = {p for h in hosts for p in h.patch_ids if p in source}
    actual = digests(checked_patches([source[p] for p in sorted(wanted)]))
    out: list[ArtifactRecheck] = []
    for host in hosts:
        rows: list[dict[str, object]] = []
        problems: list[str] = []
        for patch_id in host.patch_ids:
            patch = source.get(patch_id)
            if patch is None:
                problems.append(f"{patch_id}: not in the {against}")
            elif patch_id not in actual:
                continue  # nothing to re-check: neither a sha256 nor an artifact name
            else:
                problems += _compare(patch, actual[patch_id], against)
            expected = patch.sha256 if patch is not None else None
            got = actual.get(patch_id)
            ok = got is not None and expected is not None and got == expected
            rows.append({"patch_id": patch_id, "expected_sha256": expected, "actual_sha256": got, "ok": ok})
        if rows:
            out.append(ArtifactRecheck(host.name, against, tuple(rows), "; ".join(problems) or None))
    return out


def _compare(patch: Patch, actual: str | None, against: str) -> list[str]:
    what = patch.artifact or f"package {patch.package} {patch.target_version}"
    if actual is None:
        return [f"{patch.id}: artifact {what} not found"]
    if patch.sha256 is None:
        return [f"{patch.id}: the {against} records no sha256 for {what}"]
    if actual != patch.sha256:
        return [f"{patch.id}: {what} has sha256 {actual}, the {against} says {patch.sha256}"]
    return []
