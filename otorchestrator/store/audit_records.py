"""The audit record's text and hash: what a line of the audit log is, parsed and checked on its own.

`hash = "jcs-sha256:" + sha256(prev_hash + jcs(record without "hash"))` (RFC 8785); records written before
RFC 8785 carry `sha256:` hashes over `json.dumps(sort_keys=True)` text and still verify (the hash names its
form). Used by the writer (`audit.py`), the verifier (`audit_verify.py`) and the copy checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from otorchestrator.models.canonical import (
    JCS_PREFIX,
    CanonicalJSONError,
    hash_version,
    jcs,
    jcs_bytes,
    legacy_canonical_json,
)
from otorchestrator.models.results import Phase

CHAIN_FIELDS = ("seq", "prev_hash", "hash")


def record_text(record: Mapping[str, Any], version: str = "jcs") -> str:
    """The canonical text of a record (or a body) in hash form `version` ("jcs" or "legacy")."""
    return legacy_canonical_json(dict(record)) if version == "legacy" else jcs(dict(record))


def event_hash(prev_hash: str, body: Mapping[str, Any], version: str = "jcs") -> str:
    """The hash of a record: `body` is the record without its "hash" field (it includes prev_hash)."""
    digest = hashlib.sha256((prev_hash + record_text(body, version)).encode()).hexdigest()
    return ("sha256:" if version == "legacy" else JCS_PREFIX) + digest


class TaskEventRow(Protocol):
    """What a task-event digest reads of a stored event (a run's `TaskEventRecord`, a scan's too)."""

    @property
    def phase(self) -> Phase: ...
    @property
    def task(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def changed(self) -> bool: ...
    @property
    def at(self) -> datetime: ...


class TaskEventsDigests:
    """The task-event digest of each prefix of one host's stored events, in one pass: each event's text is
    hashed once, into a running SHA-256 of the JCS array (`[` + the rows joined by `,` + `]`, what
    `jcs(rows)` is), and a prefix's digest is a copy of it closed with `]`. Asked for counts in ascending
    order (the cumulative digests of a host's phase results, in seq order), the whole host costs one pass
    over its events; a smaller count than the last starts again from the first event."""

    def __init__(self, rows: Sequence[TaskEventRow]) -> None:
        self._rows = rows
        self._restart()

    def _restart(self) -> None:
        self._hash = hashlib.sha256(b"[")
        self._fed = 0

    def upto(self, count: int) -> dict[str, Any]:
        """`task_events_digest(rows[:count])`; `count` from 0 to the number of rows (ValueError)."""
        if not 0 <= count <= len(self._rows):
            raise ValueError(f"{count} is not a prefix length of {len(self._rows)} task events")
        if count < self._fed:
            self._restart()
        for row in self._rows[self._fed : count]:
            self._hash.update(b"," if self._fed else b"")
            self._hash.update(jcs_bytes(_row(row)))
            self._fed += 1
        closed = self._hash.copy()
        closed.update(b"]")
        return {"count": count, "digest": JCS_PREFIX + closed.hexdigest()}


def _row(r: TaskEventRow) -> list[Any]:
    return [r.phase.value, r.task, r.status, r.changed, r.at.astimezone(UTC).isoformat()]


def task_events_digest(rows: Sequence[TaskEventRow]) -> dict[str, Any]:
    """What a phase-result audit record carries of its host's task events in the run so far, as stored:
    `count` and `digest` = "jcs-sha256:" + sha256(jcs([[phase, task, status, changed, at], ...])) over
    the rows in stored order (`at` in UTC, as the store writes it). Written by the journal, recomputed by
    the store cross-check (crosscheck.py, one pass per host through `TaskEventsDigests`)."""
    return TaskEventsDigests(rows).upto(len(rows))


def split_lines(raw: bytes) -> tuple[list[bytes], bytes | None]:
    """Complete lines, and the torn fragment after the last newline (None if the file ends cleanly)."""
    if not raw:
        return [], None
    parts = raw.split(b"\n")
    tail = parts.pop()  # b"" when the file ends with a newline
    return parts, (tail if tail else None)


def parse_line(raw_line: bytes) -> tuple[dict[str, Any] | None, str, str]:
    """The record, or None with (kind, detail)."""
    try:
        text = raw_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, "malformed", f"not UTF-8 ({exc.reason} at byte {exc.start})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, "malformed", f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(data, dict) or not all(k in data for k in CHAIN_FIELDS):
        return None, "malformed", "not an audit record (seq, prev_hash and hash required)"
    if not isinstance(data["seq"], int) or not all(isinstance(data[k], str) for k in ("prev_hash", "hash")):
        return None, "malformed", "seq, prev_hash or hash has the wrong type"
    try:
        canonical = record_text(data, hash_version(data["hash"]))
    except CanonicalJSONError as exc:
        return None, "not_canonical", f"record has no canonical form ({exc})"
    if canonical != text:
        return None, "not_canonical", "record is not in canonical form: it was edited after it was written"
    return data, "", ""
