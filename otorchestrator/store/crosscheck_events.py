"""What the store cross-check (crosscheck.py) says of a mismatch, and the check of a host's stored task
events against the cumulative digests its audit records carry, shared by runs and scans
(crosscheck_scans.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from otorchestrator.store.audit_records import TaskEventRow, TaskEventsDigests

Key = tuple[Any, ...]

RECORD = {"run": "phase result", "scan": "scan result"}  # the audit record that carries the digest


@dataclass(frozen=True)
class StoreMismatch:
    run_id: str
    host: str
    side: str  # "audit" (only in the audit log) | "store" (only in the store)
    what: str  # transition | phase_result | run | scan | task_events (the store's differ from the digest)
    seq: int | None  # the audit record, when it is on the audit side (task_events: the digest's record)
    detail: str
    of: str = "run"  # run | scan (store/scans.py): what run_id names

    def describe(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "store"
        whose = f"{where}: {self.of} {self.run_id} host {self.host}"
        if self.what == "task_events":
            return f"{whose}: {self.detail}"
        missing = "store" if self.side == "audit" else "audit log"
        return f"{whose}: {self.what} {self.detail} missing in the {missing}"


def named(events: Sequence[TaskEventRow], most: int = 3) -> list[str]:
    names = [f"{e.phase.value} {e.task!r} {e.status}" for e in events[:most]]
    return names + ([f"{len(events) - most} more"] if len(events) > most else [])


def digest_gaps(
    run_id: str,
    host: str,
    audited: Sequence[tuple[Key, int]],
    stored: Sequence[TaskEventRow],
    *,
    of: str = "run",
) -> tuple[list[StoreMismatch], int]:
    """The host's stored task events against each digest its phase-result records carry, in seq order, in
    one pass over the events: the first record that no longer matches (a cumulative digest: every later
    one fails with it); and how many stored events the last record covers. `audited`: ((phase, count,
    digest), seq) of the host's phase-result records (a scan's: its scan_result records, `of` "scan")."""
    covered = 0
    digests = TaskEventsDigests(stored)  # one pass: the counts grow with seq
    for n, ((phase, count, digest), seq) in enumerate(audited):
        if (
            not isinstance(count, int)
            or not 0 <= count <= len(stored)
            or digests.upto(count) != {"count": count, "digest": digest}
        ):
            job = f"{covered + 1}..{count}" if isinstance(count, int) and count > covered else "none"
            later = len(audited) - n - 1
            detail = (
                f"task events of its {phase} job (events {job} of the host, {len(stored)} stored) do not "
                f"match the digest of its {RECORD[of]}: the audit counted {count} through this job; a task "
                "event was edited, added or deleted in the store"
                + (f" ({later} later digest(s) of the host fail with it)" if later else "")
            )
            return [StoreMismatch(run_id, host, "store", "task_events", seq, detail, of)], covered
        covered = max(covered, count)
    return [], covered
