"""The audit log against the store's scans (store/scans.py): every scan in the store was audited as
started, and each host's stored task events of a scan match the digest its `scan_result` records carry
(store/journal_scan.py), as a run's phase results do (crosscheck_events.py digest_gaps).

Events stored after a host's last audited scan result are a note while the scan is unfinished (it
stopped before its results were audited) and a problem (added) in a finished one. A scan audited as
started that the store never took (stopped between the two writes) is a note, unless results were
audited for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from otorchestrator.models.run import AuditEvent
from otorchestrator.store.crosscheck_events import Key, StoreMismatch, digest_gaps, named
from otorchestrator.store.journal_scan import SCAN_RESULT, SCAN_STARTED
from otorchestrator.store.scans import ScanTaskEvent
from otorchestrator.store.state import StateStore


@dataclass(frozen=True)
class ScanCheck:
    ids: frozenset[str]  # every scan id, audited or stored (not refused runs)
    scans: int  # scans in the store
    problems: tuple[StoreMismatch, ...]
    notes: tuple[str, ...]


def check_scans(events: Sequence[AuditEvent], store: StateStore) -> ScanCheck:
    started: set[str] = set()
    digests: dict[tuple[str, str], list[tuple[Key, int]]] = {}
    for e in events:
        if e.run_id is None:
            continue
        if e.kind == SCAN_STARTED:
            started.add(e.run_id)
        elif e.kind == SCAN_RESULT and e.host is not None:
            d = e.detail.get("task_events")
            item = ("scan", d.get("count"), d.get("digest")) if isinstance(d, dict) else ("scan", None, None)
            digests.setdefault((e.run_id, e.host), []).append((item, e.seq))
    problems: list[StoreMismatch] = []
    notes: list[str] = []
    scans = store.list_scans()
    for scan in scans:
        sid = scan.scan_id
        if sid not in started:
            problems.append(StoreMismatch(sid, "-", "store", "scan", None, "with all its records", "scan"))
        stored: dict[str, list[ScanTaskEvent]] = {}
        for te in store.scan_task_events(sid):
            stored.setdefault(te.host, []).append(te)
        for host in sorted(set(stored) | {h for s, h in digests if s == sid}):
            rows = stored.get(host, [])
            found, covered = digest_gaps(sid, host, digests.get((sid, host), []), rows, of="scan")
            problems += found
            if found or len(rows) <= covered:
                continue
            what = (
                f"{len(rows) - covered} task event(s) stored after the host's last audited scan result "
                f"(events {covered + 1}..{len(rows)}: {', '.join(named(rows[covered:]))})"
            )
            if scan.finished_at is not None:
                problems.append(
                    StoreMismatch(sid, host, "store", "task_events", None, what + ": added", "scan")
                )
            else:
                notes.append(
                    f"scan {sid} host {host}: {what} are not covered by the audit (the scan stopped before "
                    "its results were audited)"
                )
    stored_ids = {s.scan_id for s in scans}
    for sid in sorted(started - stored_ids):
        audited = sorted((seq, host) for (s, host), items in digests.items() if s == sid for _, seq in items)
        problems += [
            StoreMismatch(sid, host, "audit", "scan", seq, "scan_result", "scan") for seq, host in audited
        ]
        if not audited:
            notes.append(
                f"scan {sid}: audited as started but not in the store (it stopped between the two writes)"
            )
    return ScanCheck(frozenset(started | stored_ids), len(scans), tuple(problems), tuple(notes))
