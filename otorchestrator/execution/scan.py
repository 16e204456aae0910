"""Scan hosts through the Backend (read-only), through the scan's journal, and keep the scans as baselines.

Used by `otorch scan` (record baselines) and `otorch drift` (compare with the recorded baseline)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from otorchestrator.execution.backend import Backend, TaskEvent
from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.recorder import _TASK_STATUS as TASK_STATUS  # a run's task statuses
from otorchestrator.execution.requests import scan_request
from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Patch
from otorchestrator.models.results import HostOutcome, PhaseResult
from otorchestrator.models.run import BaselineRecord
from otorchestrator.planning.drift import Difference, compare_scans
from otorchestrator.store.clock import Clock
from otorchestrator.store.journal_scan import ScanJournal
from otorchestrator.store.redact import Redactor
from otorchestrator.store.state import StateStore

log = logging.getLogger(__name__)

BASELINE_RECORDED = "baseline_recorded"  # audit kind: a scan became the host's baseline


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
    options: RunOptions,
    hosts: Sequence[str],
    clock: Clock,
    *,
    patches_by_host: Mapping[str, Sequence[Patch]] | None = None,
    run_label: str = "scan",
    run_id: str = "",
    redactor: Redactor | None = None,
    on_event: Callable[[TaskEvent], None] | None = None,
) -> ScanOutcome:
    """One read-only scan phase of `hosts`, its request built as a wave's (execution/requests.py
    scan_request: `options`' inventory, extra vars, timeouts and transport). `run_id`: the scan's id, handed
    to the backend (what its `end_orphans` is given); `redactor`: its registered secrets are scrubbed from
    every result before anything else sees them (baselines, audit records, drift reports); `on_event`: each
    task event as it arrives."""
    started = clock.now()
    request = scan_request(
        options, {h: (patches_by_host or {}).get(h, ()) for h in hosts}, run_id=run_id, label=run_label
    )
    outcome = backend.run_phase(request, on_event=on_event)
    results = dict(outcome.results)
    if redactor is not None:
        results = {h: _scrubbed(redactor, r) for h, r in results.items()}
    return ScanOutcome(started_at=started, finished_at=clock.now(), results=results)


def journaled_scan(
    journal: ScanJournal,
    backend: Backend,
    options: RunOptions,
    hosts: Sequence[str],
    clock: Clock,
    *,
    patches_by_host: Mapping[str, Sequence[Patch]] | None = None,
    redactor: Redactor,
) -> ScanOutcome:
    """`run_scan` under the journal's id, every fact through the journal: scan_started (then the store's
    scan), each task event into the store as it arrives (scrubbed, as a run's; a failure to store one is
    logged, never fails the scan), each host's scan_result with the digest of its stored events, then
    scan_finished. A backend that raises leaves the scan unfinished (its events are a note in `otorch audit
    verify`, as a crashed run's)."""
    journal.start(hosts, clock.now())

    def on_event(event: TaskEvent) -> None:
        status = TASK_STATUS.get(event.status)
        if status is None:
            return
        task, _ = redactor.scrub(event.task)
        try:
            journal.task_event(
                event.host, event.phase, str(task)[:300], status, event.status == "changed", clock.now()
            )
        except Exception as exc:  # evidence only: never break the scan over it
            log.warning("could not store a task event: %s", type(exc).__name__, extra={"host": event.host})

    outcome = run_scan(
        backend,
        options,
        hosts,
        clock,
        patches_by_host=patches_by_host,
        run_label=journal.run_id,
        run_id=journal.run_id,
        redactor=redactor,
        on_event=on_event,
    )
    for host in hosts:
        journal.result(host, outcome.results.get(host), outcome.finished_at)
    complete = sum(outcome.ok(h) for h in hosts)
    journal.finished(outcome.finished_at, {"hosts": len(hosts), "complete": complete})
    return outcome


def _scrubbed(redactor: Redactor, result: PhaseResult) -> PhaseResult:
    data, _ = redactor.scrub(result.model_dump(mode="json", by_alias=True))
    return PhaseResult.model_validate(data)


def not_recorded(scan: ScanOutcome) -> dict[str, str]:
    """host -> why its scan is not a baseline (incomplete)."""
    out: dict[str, str] = {}
    for host, result in sorted(scan.results.items()):
        if not scan.ok(host):
            failed = ", ".join(c.name for c in result.failed_checks) or result.message or result.outcome.value
            out[host] = f"scan {result.outcome.value}: {failed}"
    return out


def record_baselines(
    journal: ScanJournal, scan: ScanOutcome, detail: Callable[[PhaseResult], Mapping[str, Any]]
) -> tuple[dict[str, BaselineRecord], dict[str, str]]:
    """Every complete scan recorded as its host's baseline through `journal` (audit `baseline_recorded`
    with `detail(result)`, then the store, under the journal's run id); (recorded, host -> why not)."""
    saved: dict[str, BaselineRecord] = {}
    for host, result in sorted(scan.results.items()):
        if scan.ok(host):
            at = scan.finished_at
            journal.event(BASELINE_RECORDED, at, host=host, result="ok", detail=detail(result))
            saved[host] = journal.baseline(host, result, at)
    return saved, not_recorded(scan)


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
