"""`otorch audit verify` recomputes the task-event digests in one pass per host (issue 12 item 1): each
stored event is hashed once however many phase results of its host carry a cumulative digest, so the work
grows with the events, not with records x events. Counted in bytes fed to SHA-256, never in time."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from otorchestrator.models.canonical import jcs
from otorchestrator.models.results import Phase, PhaseResult
from otorchestrator.models.run import AuditEvent, AuditKind, RunRecord
from otorchestrator.store import audit_records
from otorchestrator.store.audit_records import TaskEventsDigests, task_events_digest
from otorchestrator.store.crosscheck import cross_check
from otorchestrator.store.state import StateStore, TaskEventRecord

T0 = datetime(2026, 3, 7, 1, 0, tzinfo=UTC)
HOSTS, EVENTS = 50, 40
PHASES = (Phase.DIAGNOSTICS, Phase.BACKUP, Phase.INSTALL, Phase.VERIFY)


def full_digest(rows: list[TaskEventRecord]) -> dict[str, Any]:
    """The digest as docs/audit.md defines it, computed the plain way: one JCS text of the whole list."""
    body = [[r.phase.value, r.task, r.status, r.changed, r.at.astimezone(UTC).isoformat()] for r in rows]
    return {"count": len(rows), "digest": "jcs-sha256:" + hashlib.sha256(jcs(body).encode()).hexdigest()}


def event(n: int, task: str = "") -> TaskEventRecord:
    return TaskEventRecord(
        run_id="run-1", wave=0, host="h", phase=PHASES[n % 4], task=task or f"task {n}",
        status="ok" if n % 3 else "failed", changed=bool(n % 2), at=T0 + timedelta(seconds=n),
    )  # fmt: skip


def test_each_prefix_digest_is_the_jcs_digest_of_that_prefix() -> None:
    rows = [event(n, task) for n, task in enumerate(['é "q" \\', "日本", "tab\t", "", "x" * 300, "z"])]
    digests = TaskEventsDigests(rows)
    assert [digests.upto(n) for n in range(len(rows) + 1)] == [full_digest(rows[:n]) for n in range(7)]
    assert digests.upto(2) == full_digest(rows[:2])  # a smaller count after a larger one: starts again
    assert task_events_digest(rows) == full_digest(rows)
    with pytest.raises(ValueError):
        digests.upto(len(rows) + 1)


@dataclass
class Hashed:
    fed: int = 0  # bytes fed to SHA-256
    digests: int = 0  # digests finished (hexdigest)


class CountingSha256:
    def __init__(self, inner: Any, counts: Hashed) -> None:
        self.inner, self.counts = inner, counts

    def update(self, data: bytes) -> None:
        self.counts.fed += len(data)
        self.inner.update(data)

    def copy(self) -> CountingSha256:
        return CountingSha256(self.inner.copy(), self.counts)

    def hexdigest(self) -> str:
        self.counts.digests += 1
        return str(self.inner.hexdigest())


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hashed]:
    counts = Hashed()

    class Shim:
        @staticmethod
        def sha256(data: bytes = b"") -> CountingSha256:
            counts.fed += len(data)
            return CountingSha256(hashlib.sha256(data), counts)

    monkeypatch.setattr(audit_records, "hashlib", Shim)
    yield counts


def site(root: Path, results_per_host: int) -> tuple[StateStore, list[AuditEvent], int]:
    """A store of HOSTS hosts x EVENTS task events of one run, each host's events covered by
    `results_per_host` phase results whose audit records carry the cumulative digest (as the journal
    writes them); and the bytes of the JCS text of every host's whole event list."""
    store = StateStore(root / "state.db")
    store.create_run(RunRecord(run_id="run-1", operator="a", waveplan_hash="w", plan_hash="p", started_at=T0))
    audit: list[AuditEvent] = []
    events: list[tuple[Any, ...]] = []
    results: list[tuple[Any, ...]] = []
    whole = 0
    step = EVENTS // results_per_host
    for h in range(HOSTS):
        host = f"host-{h:02d}"
        rows = [event(n) for n in range(EVENTS)]
        whole += len(jcs([[r.phase.value, r.task, r.status, r.changed, r.at.isoformat()] for r in rows]))
        events += [(host, r.phase.value, r.task, r.status, int(r.changed), r.at.isoformat()) for r in rows]
        for k in range(1, results_per_host + 1):
            result = PhaseResult(phase=Phase.VERIFY, host=host, ok=True)
            results.append((host, result.model_dump_json(by_alias=True)))
            digest = full_digest(rows[: k * step])
            audit.append(AuditEvent(
                seq=len(audit) + 1, at=T0, operator="a", kind=AuditKind.PHASE_RESULT, run_id="run-1",
                host=host, wave=0, phase=Phase.VERIFY, result="ok",
                detail={"outcome": "ok", "task_events": digest},
            ))  # fmt: skip
    store.close()
    with sqlite3.connect(root / "state.db") as conn:
        conn.executemany(
            "INSERT INTO task_events (run_id, wave, host, phase, task, status, changed, at)"
            " VALUES ('run-1', 0, ?, ?, ?, ?, ?, ?)",
            events,
        )
        conn.executemany(
            "INSERT INTO phase_results (run_id, wave, host, phase, ok, outcome, started_at, finished_at,"
            f" result) VALUES ('run-1', 0, ?, 'verify', 1, 'ok', '{T0.isoformat()}', '{T0.isoformat()}', ?)",
            results,
        )
    return StateStore(root / "state.db"), audit, whole


@pytest.mark.parametrize("results_per_host", [8, 40])
def test_verify_hashes_each_stored_task_event_once(
    tmp_path: Path, hashed: Hashed, results_per_host: int
) -> None:
    store, audit, whole = site(tmp_path, results_per_host)
    with store:
        hashed.fed = hashed.digests = 0
        check = cross_check(audit, store)
    assert check.ok, check.problems
    assert check.phase_results == HOSTS * results_per_host
    assert hashed.digests == HOSTS * results_per_host  # one digest finished per record
    # every host's events fed once (its whole JCS text, "]" aside) plus one "]" per record: linear in
    # the events, whatever the number of records (per record from scratch: 4.5x the text at 8 per host,
    # 20.5x at 40)
    assert hashed.fed == whole - HOSTS + HOSTS * results_per_host


def test_an_edited_event_among_many_is_still_found_in_one_pass(tmp_path: Path) -> None:
    store, audit, _ = site(tmp_path, 8)
    store.close()
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("UPDATE task_events SET status = 'ok' WHERE host = 'host-07' AND task = 'task 21'")
    with StateStore(tmp_path / "state.db") as store:
        check = cross_check(audit, store)
    (problem,) = check.problems
    assert (problem.host, problem.what) == ("host-07", "task_events")
    assert "events 21..25 of the host, 40 stored" in problem.detail
    assert "(3 later digest(s) of the host fail with it)" in problem.detail
    assert problem.seq == 7 * 8 + 5  # host-07's fifth record
