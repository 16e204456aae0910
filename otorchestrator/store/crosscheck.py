"""The audit log against the state store: every transition and phase result on both sides, and every
scan's task events (crosscheck_scans.py).

The journal writes a transition to the audit log (the intent) and then to the store, and a phase result to
the store and then to the audit log. Per run and host, the two ordered lists are aligned; what one side
has and the other lacks is reported with its seq (audit) or its place in the store. The one gap a crash
(or an unavailable audit) leaves legitimately, the last transition intent of a host that the store never
committed, is a note; everything else is a problem. A rewritten or dropped record whose chain was
recomputed shows up here, because the store still tells the other story.

Task events are in the store only; each phase-result audit record carries the count and digest of its
host's task events of the run as they were stored then (store/audit_records.py task_events_digest). They
are recomputed from the store's rows: the first record whose digest no longer matches names the host and
the job (the phase result at that seq) whose events were edited, added or deleted. Events stored after a
host's last audited phase result are a note while the run may still cover them (not finished, the host
caught mid-step, or that phase result never audited); in a finished run with the host at rest they are a
problem (added). A run whose phase results carry no digest was written before digests: a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from otorchestrator.models.run import AuditEvent, AuditKind
from otorchestrator.store.crosscheck_events import Key, StoreMismatch, digest_gaps, named
from otorchestrator.store.crosscheck_scans import check_scans
from otorchestrator.store.run_records import TaskEventRecord
from otorchestrator.store.state import StateStore

__all__ = ["CrossCheck", "StoreMismatch", "cross_check"]


@dataclass(frozen=True)
class CrossCheck:
    runs: int
    transitions: int
    phase_results: int
    problems: tuple[StoreMismatch, ...] = ()
    notes: tuple[str, ...] = field(default=())
    scans: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _align(
    run_id: str, host: str, what: str, audit: Sequence[tuple[Key, int]], store: Sequence[Key]
) -> list[StoreMismatch]:
    matcher = SequenceMatcher(a=[k for k, _ in audit], b=list(store), autojunk=False)
    out: list[StoreMismatch] = []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for key, seq in audit[a0:a1]:
            out.append(StoreMismatch(run_id, host, "audit", what, seq, _show(what, key)))
        for key in store[b0:b1]:
            out.append(StoreMismatch(run_id, host, "store", what, None, _show(what, key)))
    return out


def _uncommitted(m: StoreMismatch, audit: Sequence[tuple[Key, int]], current: str | None) -> bool:
    """An audited transition the store never took: the host's next audited transition (or, for the last
    one, its state in the store now) starts from the same state this one started from."""
    if m.side != "audit" or m.what != "transition":
        return False
    index = next(i for i, (_, seq) in enumerate(audit) if seq == m.seq)
    start = audit[index][0][0]
    if index + 1 < len(audit):
        return bool(audit[index + 1][0][0] == start)
    return current == start


def _show(what: str, key: Key) -> str:
    if what == "transition":
        return f"{key[0] or '(new)'} -> {key[1]} (wave {key[2]})"
    return f"{key[0]} {'ok' if key[1] else 'failed'} ({key[2]}, wave {key[3]})"


Sides = dict[tuple[str, str], list[tuple[Key, int]]]


def _audit_sides(events: Iterable[AuditEvent]) -> tuple[Sides, Sides, Sides, set[str]]:
    """Per (run, host): the audited transitions, phase results and task-event digests, and the runs."""
    transitions: Sides = {}
    results: Sides = {}
    digests: Sides = {}
    runs: set[str] = set()
    for e in events:
        if e.run_id is None:
            continue
        runs.add(e.run_id)
        if e.host is None:
            continue
        if e.kind == AuditKind.TRANSITION:
            key: Key = (e.detail.get("from"), e.result, e.wave)
            transitions.setdefault((e.run_id, e.host), []).append((key, e.seq))
        elif e.kind == AuditKind.PHASE_RESULT:
            phase = e.phase.value if e.phase else None
            key = (phase, e.result == "ok", e.detail.get("outcome"), e.wave)
            results.setdefault((e.run_id, e.host), []).append((key, e.seq))
            digest = e.detail.get("task_events")
            if isinstance(digest, dict):
                item = (phase, digest.get("count"), digest.get("digest"))
                digests.setdefault((e.run_id, e.host), []).append((item, e.seq))
    return transitions, results, digests, runs


def cross_check(events: Sequence[AuditEvent], store: StateStore) -> CrossCheck:
    """Compare the audit `events` (all of the log) with the store's transitions and phase results."""
    audit_t, audit_r, audit_d, audit_runs = _audit_sides(events)
    problems: list[StoreMismatch] = []
    notes: list[str] = []
    store_runs = {r.run_id for r in store.list_runs()}
    n_transitions = n_results = 0
    for run_id in sorted(store_runs - audit_runs):
        problems.append(StoreMismatch(run_id, "-", "store", "run", None, "with all its records"))
    for run_id in sorted(audit_runs & store_runs):
        store_t: dict[str, list[Key]] = {}
        for t in store.transitions(run_id):
            store_t.setdefault(t.host, []).append(
                (t.from_state.value if t.from_state else None, t.to_state.value, t.wave)
            )
        store_r: dict[str, list[Key]] = {}
        for r in store.phase_results(run_id):
            res = r.result
            store_r.setdefault(res.host, []).append((res.phase.value, res.ok, res.outcome.value, r.wave))
        hosts = sorted(
            {h for (rid, h) in [*audit_t, *audit_r] if rid == run_id} | set(store_t) | set(store_r)
        )
        states = store.host_states(run_id)
        stored_events: dict[str, list[TaskEventRecord]] = {}
        for te in store.task_events(run_id):
            stored_events.setdefault(te.host, []).append(te)
        dated = any(rid == run_id for rid, _ in audit_d)
        if stored_events and not dated:
            notes.append(
                f"run {run_id}: its phase results carry no task-event digest (written before they did): "
                f"its {sum(map(len, stored_events.values()))} stored task events are not checked"
            )
        finished = store.get_run(run_id).status.final
        hosts = sorted(set(hosts) | set(stored_events))
        for host in hosts:
            a_t, s_t = audit_t.get((run_id, host), []), store_t.get(host, [])
            n_transitions += len(s_t)
            found = _align(run_id, host, "transition", a_t, s_t)
            current = states[host].state.value if host in states else None
            for gap in [m for m in found if _uncommitted(m, a_t, current)]:
                found.remove(gap)  # a crash or an unavailable audit between the two writes
                notes.append(
                    f"seq {gap.seq}: run {run_id} host {host}: transition {gap.detail} was audited but not "
                    "committed to the store (the run stopped between the two writes; resume re-probed it)"
                )
            problems += found
            a_r, s_r = audit_r.get((run_id, host), []), store_r.get(host, [])
            n_results += len(s_r)
            found = _align(run_id, host, "phase_result", a_r, s_r)
            if (
                found
                and found[-1].side == "store"
                and s_r
                and found[-1].detail == _show("phase_result", s_r[-1])
            ):
                last = found.pop()  # stored, then the run stopped before its audit record
                notes.append(
                    f"run {run_id} host {host}: phase result {last.detail} was stored but not audited "
                    "(the run stopped between the two writes)"
                )
                unaudited = True
            else:
                unaudited = False
            problems += found
            if dated:
                at_rest = host in states and states[host].state.terminal
                stored = stored_events.get(host, [])
                found, covered = digest_gaps(run_id, host, audit_d.get((run_id, host), []), stored)
                problems += found
                if not found and len(stored) > covered:
                    extra = len(stored) - covered
                    what = (
                        f"{extra} task event(s) stored after the host's last audited phase result "
                        f"(events {covered + 1}..{len(stored)}: {', '.join(named(stored[covered:]))})"
                    )
                    if finished and at_rest and not unaudited:
                        problems.append(
                            StoreMismatch(run_id, host, "store", "task_events", None, what + ": added")
                        )
                    else:
                        notes.append(
                            f"run {run_id} host {host}: {what} are not covered by the audit yet (the run "
                            "stopped during the host's job, or has not finished)"
                        )
    scans = check_scans(events, store)
    problems += scans.problems
    notes += scans.notes
    missing_runs = sorted(audit_runs - store_runs - scans.ids)
    for what, side in (("transition", audit_t), ("phase_result", audit_r)):
        for (run_id, host), items in sorted(side.items()):
            if run_id in missing_runs:
                problems += [
                    StoreMismatch(run_id, host, "audit", what, seq, _show(what, key)) for key, seq in items
                ]
    if missing_runs:  # refused runs are audited but never created in the store, nor were older scans
        notes.append(
            f"{len(missing_runs)} run id(s) in the audit log have no store record (refused runs, or scans "
            "from before the store kept scans)"
        )
    return CrossCheck(
        runs=len(audit_runs & store_runs),
        transitions=n_transitions,
        phase_results=n_results,
        problems=tuple(problems),
        notes=tuple(notes),
        scans=scans.scans,
    )
