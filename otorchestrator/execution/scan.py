"""Scan hosts through the Backend (read-only) and keep the scans as baselines.

Used by `otorch scan` (record baselines), `otorch drift` (compare with the recorded baseline) and the
rollback drill (before and after)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from otorchestrator.execution.backend import Backend, PhaseRequest
from otorchestrator.execution.inventory import phase_inventory
from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Patch
from otorchestrator.models.results import HostOutcome, Phase, PhaseResult
from otorchestrator.models.run import BaselineRecord
from otorchestrator.planning.drift import Difference, compare_scans
from otorchestrator.store.clock import Clock
from otorchestrator.store.state import StateStore


def patch_vars(patches_by_host: Mapping[str, Sequence[Patch]]) -> dict[str, Any]:
    """`otorch_patches`: host -> catalog entries (contracts.md section 4), as every phase playbook reads."""
    return {
        "otorch_patches": {
            host: [p.model_dump(mode="json", exclude_none=True) for p in patches]
            for host, patches in patches_by_host.items()
        }
    }


def applicable_patches(asset: Asset, patches: Sequence[Patch]) -> list[Patch]:
    """The catalog patches for packages or products installed on `asset` (their config files get hashed)."""
    packages = {p.package for p in asset.installed_products if p.package}
    products = {(p.vendor, p.product) for p in asset.installed_products}
    return [p for p in patches if p.package in packages or (p.vendor, p.product) in products]


@dataclass(frozen=True)
class ScanOutcome:
    started_at: datetime
    finished_at: datetime
    results: dict[str, PhaseResult]

    def ok(self, host: str) -> bool:
        result = self.results.get(host)
        return result is not None and result.ok and result.outcome is HostOutcome.OK


def run_scan(
    backend: Backend,
    inventory: Path,
    hosts: Sequence[str],
    clock: Clock,
    *,
    patches_by_host: Mapping[str, Sequence[Patch]] | None = None,
    run_label: str = "scan",
    timeout_s: int = 900,
) -> ScanOutcome:
    started = clock.now()
    outcome = backend.run_phase(
        PhaseRequest(
            phase=Phase.SCAN,
            hosts=tuple(hosts),
            inventory=phase_inventory(inventory, hosts),
            extravars=patch_vars(patches_by_host or {}),
            timeout_s=timeout_s,
            run_label=run_label,
        )
    )
    return ScanOutcome(started_at=started, finished_at=clock.now(), results=dict(outcome.results))


def save_baselines(
    store: StateStore, scan: ScanOutcome, run_id: str | None = None
) -> tuple[dict[str, BaselineRecord], dict[str, str]]:
    """Save every complete scan as its host's baseline; (saved, host -> why not saved)."""
    saved: dict[str, BaselineRecord] = {}
    skipped: dict[str, str] = {}
    for host, result in sorted(scan.results.items()):
        if scan.ok(host):
            saved[host] = store.save_baseline(host, result, scan.finished_at, run_id=run_id)
        else:
            failed = ", ".join(c.name for c in result.failed_checks) or result.message or result.outcome.value
            skipped[host] = f"scan {result.outcome.value}: {failed}"
    return saved, skipped


@dataclass(frozen=True)
class HostDrift:
    host: str
    baseline: BaselineRecord | None
    differences: tuple[Difference, ...]
    error: str = ""

    @property
    def drifted(self) -> bool:
        return bool(self.differences)


def drift_against_baselines(store: StateStore, scan: ScanOutcome) -> list[HostDrift]:
    """Each scanned host's differences from its latest recorded baseline."""
    out: list[HostDrift] = []
    for host, result in sorted(scan.results.items()):
        baseline = store.latest_baseline(host)
        if not scan.ok(host):
            out.append(
                HostDrift(host, baseline, (), f"scan {result.outcome.value}: {result.message}".strip())
            )
        elif baseline is None:
            out.append(HostDrift(host, None, (), "no baseline recorded: run `otorch scan` first"))
        else:
            current = result.model_dump(mode="json", by_alias=True)
            out.append(HostDrift(host, baseline, compare_scans(baseline.data, current)))
    return out
