"""Run-time safety checks: pure functions over the wave plan and what was read from disk just now.

Run-level problems (the wave plan was edited after sealing, a catalog entry or an artifact's sha256 differs
from what was approved) refuse the run or halt it before the next wave. Host-level problems (a missing
approval, not enough maintenance window left) refuse only that host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from otorchestrator.models.asset import Asset, window_remaining
from otorchestrator.models.catalog import Catalog
from otorchestrator.models.waves import WaveHost, WavePlan


@dataclass(frozen=True)
class SafetyProblem:
    check: str  # waveplan_hash | catalog | artifact | approval | window
    detail: str
    host: str | None = None
    patch_id: str | None = None

    def describe(self) -> str:
        where = f"{self.host}: " if self.host else ""
        return f"{where}{self.check}: {self.detail}"


def check_waveplan_hash(waveplan: WavePlan, expected: str | None = None) -> list[SafetyProblem]:
    """The wave plan is sealed, unchanged since sealing, and (when given) the one the run started with."""
    if not waveplan.content_hash:
        return [SafetyProblem("waveplan_hash", "the wave plan is not sealed (no content_hash)")]
    actual = waveplan.compute_hash()
    if actual != waveplan.content_hash:
        return [
            SafetyProblem(
                "waveplan_hash",
                f"the wave plan was modified after it was sealed (content {actual}, "
                f"sealed {waveplan.content_hash})",
            )
        ]
    if expected is not None and expected != waveplan.content_hash:
        return [
            SafetyProblem(
                "waveplan_hash", f"this is wave plan {waveplan.content_hash}, the run started with {expected}"
            )
        ]
    return []


def check_catalog(waveplan: WavePlan, catalog: Catalog) -> list[SafetyProblem]:
    """Every planned patch is still in the catalog with the same package, target version and sha256."""
    current = catalog.by_id()
    problems: list[SafetyProblem] = []
    for patch in waveplan.patches:
        now = current.get(patch.id)
        if now is None:
            problems.append(SafetyProblem("catalog", "no longer in the patch catalog", patch_id=patch.id))
            continue
        for field in ("package", "target_version", "sha256", "artifact"):
            before, after = getattr(patch, field), getattr(now, field)
            if before != after:
                problems.append(
                    SafetyProblem(
                        "catalog",
                        f"{patch.id}: {field} changed since the plan was approved ({before!r} -> {after!r})",
                        patch_id=patch.id,
                    )
                )
    return problems


def check_artifacts(waveplan: WavePlan, digests: Mapping[str, str | None]) -> list[SafetyProblem]:
    """`digests`: patch id -> sha256 of its artifact as read now (None: artifact not found).

    Patches absent from `digests` were not checked (no artifact location given).
    """
    problems: list[SafetyProblem] = []
    for patch in waveplan.patches:
        if patch.id not in digests:
            continue
        actual = digests[patch.id]
        what = patch.artifact or f"package {patch.package} {patch.target_version}"
        if actual is None:
            problems.append(
                SafetyProblem("artifact", f"{patch.id}: artifact {what} not found", patch_id=patch.id)
            )
        elif patch.sha256 is None:
            problems.append(
                SafetyProblem("artifact", f"{patch.id}: the plan records no sha256", patch_id=patch.id)
            )
        elif actual != patch.sha256:
            problems.append(
                SafetyProblem(
                    "artifact",
                    f"{patch.id}: {what} has sha256 {actual}, the plan approved {patch.sha256}",
                    patch_id=patch.id,
                )
            )
    return problems


def check_approval(waveplan: WavePlan, host: WaveHost) -> SafetyProblem | None:
    """A safety-system or high-criticality host needs its approval recorded in the wave plan."""
    if not waveplan.policy.needs_approval(host.criticality, host.safety_system):
        return None
    approval = host.approval
    if approval is None:
        return SafetyProblem("approval", "needs a recorded approval and has none", host=host.name)
    if approval.kind != "asset" or approval.subject != host.name:
        return SafetyProblem(
            "approval",
            f"the recorded approval is for {approval.kind} {approval.subject!r}, not this host",
            host=host.name,
        )
    return None


def window_left(host: WaveHost, asset: Asset | None, now: datetime) -> timedelta:
    """How long the maintenance window open at `now` stays open: the asset's own windows, or the planned
    occurrence when the asset declares none."""
    left = timedelta(0)
    if asset is not None and asset.maintenance_windows:
        left = window_remaining(asset.maintenance_windows, now)
    elif host.window_start <= now < host.window_end:
        left = host.window_end - now
    return left


def check_window(host: WaveHost, asset: Asset | None, now: datetime) -> SafetyProblem | None:
    """No host starts when the open window is shorter than its expected duration plus rollback."""
    need = timedelta(minutes=host.need_minutes)
    left = window_left(host, asset, now)
    if left <= timedelta(0):
        return SafetyProblem("window", f"no maintenance window open at {now.isoformat()}", host=host.name)
    if left < need:
        minutes = int(left.total_seconds() // 60)
        return SafetyProblem(
            "window",
            f"{minutes} min of window left, needs {host.need_minutes} min "
            f"({host.duration_minutes} duration + {host.rollback_minutes} rollback)",
            host=host.name,
        )
    return None
