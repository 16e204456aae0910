"""The audit record's text and hash: what a line of the audit log is, parsed and checked on its own.

`hash = "jcs-sha256:" + sha256(prev_hash + jcs(record without "hash"))` (RFC 8785); records written before
RFC 8785 carry `sha256:` hashes over `json.dumps(sort_keys=True)` text and still verify (the hash names its
form). Used by the writer (`audit.py`), the verifier (`audit_verify.py`) and the copy checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from otorchestrator.models.canonical import (
    JCS_PREFIX,
    CanonicalJSONError,
    hash_version,
    jcs,
    legacy_canonical_json,
)

if TYPE_CHECKING:  # run_records -> database -> backfill -> audit_verify -> here
    from otorchestrator.store.run_records import TaskEventRecord

CHAIN_FIELDS = ("seq", "prev_hash", "hash")


def record_text(record: Mapping[str, Any], version: str = "jcs") -> str:
    """The canonical text of a record (or a body) in hash form `version` ("jcs" or "legacy")."""
    return legacy_canonical_json(dict(record)) if version == "legacy" else jcs(dict(record))


def event_hash(prev_hash: str, body: Mapping[str, Any], version: str = "jcs") -> str:
    """The hash of a record: `body` is the record without its "hash" field (it includes prev_hash)."""
    digest = hashlib.sha256((prev_hash + record_text(body, version)).encode()).hexdigest()
    return ("sha256:" if version == "legacy" else JCS_PREFIX) + digest


def task_events_digest(rows: Sequence[TaskEventRecord]) -> dict[str, Any]:
    """What a phase-result audit record carries of its host's task events in the run so far, as stored:
    `count` and `digest` = "jcs-sha256:" + sha256(jcs([[phase, task, status, changed, at], ...])) over
    the rows in stored order (`at` in UTC, as the store writes it). Written by the journal, recomputed by
    the store cross-check (crosscheck.py)."""
    body = [[r.phase.value, r.task, r.status, r.changed, r.at.astimezone(UTC).isoformat()] for r in rows]
    return {"count": len(body), "digest": JCS_PREFIX + hashlib.sha256(jcs(body).encode()).hexdigest()}


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
