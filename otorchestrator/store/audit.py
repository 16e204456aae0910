"""The audit trail: append-only, hash-chained JSON lines, fsynced before the action they record.

Each line is the RFC 8785 canonical JSON of an `AuditEvent` where
`hash = "jcs-sha256:" + sha256(prev_hash + jcs(event without "hash"))` and `prev_hash` is the hash of the
line before (`GENESIS_HASH` for the first). Records written before RFC 8785 carry `sha256:` hashes over the
older `json.dumps(sort_keys=True)` text and still verify (the hash names its form). The state store keeps
the chain head (seq, hash) so a truncated tail is detected too. `verify` reports each problem with its line.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from otorchestrator.models.canonical import (
    JCS_PREFIX,
    CanonicalJSONError,
    hash_version,
    jcs,
    legacy_canonical_json,
)
from otorchestrator.models.run import GENESIS_HASH, AuditEvent, AuditHead, AuditKind
from otorchestrator.store.errors import AuditError, SecretInAudit
from otorchestrator.store.redact import Redactor

_CHAIN_FIELDS = ("seq", "prev_hash", "hash")


class HeadStore(Protocol):
    """Where the chain head is anchored (the `StateStore` implements this)."""

    def set_audit_head(self, head: AuditHead) -> None: ...

    def audit_head(self) -> AuditHead | None: ...


def record_text(record: Mapping[str, Any], version: str = "jcs") -> str:
    """The canonical text of a record (or a body) in hash form `version` ("jcs" or "legacy")."""
    return legacy_canonical_json(dict(record)) if version == "legacy" else jcs(dict(record))


def event_hash(prev_hash: str, body: Mapping[str, Any], version: str = "jcs") -> str:
    """The hash of a record: `body` is the record without its "hash" field (it includes prev_hash)."""
    digest = hashlib.sha256((prev_hash + record_text(body, version)).encode()).hexdigest()
    return ("sha256:" if version == "legacy" else JCS_PREFIX) + digest


# -- verification ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditProblem:
    line: int
    kind: str  # torn | malformed | not_canonical | hash_mismatch | seq | chain_break | schema | truncated ...
    detail: str


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    records: int
    head_hash: str | None
    head_seq: int = 0
    problems: tuple[AuditProblem, ...] = ()
    notes: tuple[str, ...] = field(default=())


def _split_lines(raw: bytes) -> tuple[list[bytes], bytes | None]:
    """Complete lines, and the torn fragment after the last newline (None if the file ends cleanly)."""
    if not raw:
        return [], None
    parts = raw.split(b"\n")
    tail = parts.pop()  # b"" when the file ends with a newline
    return parts, (tail if tail else None)


def _parse(raw_line: bytes) -> tuple[dict[str, Any] | None, str, str]:
    """The record, or None with (kind, detail)."""
    try:
        text = raw_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, "malformed", f"not UTF-8 ({exc.reason} at byte {exc.start})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, "malformed", f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(data, dict) or not all(k in data for k in _CHAIN_FIELDS):
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


def verify(path: Path | str, expected_head: AuditHead | None = None) -> AuditVerification:
    """Check the whole chain. `expected_head` (from the state store) also catches a truncated tail."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raw = b""
    lines, torn = _split_lines(raw)
    problems: list[AuditProblem] = []
    notes: list[str] = []
    prev_hash = GENESIS_HASH
    expected_seq = 1
    records = 0
    last_seq, last_hash = 0, None
    line_of_seq: dict[int, tuple[int, str]] = {}
    for number, raw_line in enumerate(lines, start=1):
        data, kind, detail = _parse(raw_line)
        if data is None:
            problems.append(AuditProblem(number, kind, detail))
            continue
        records += 1
        seq, stored_prev, stored_hash = data["seq"], data["prev_hash"], data["hash"]
        body = {k: v for k, v in data.items() if k != "hash"}
        if event_hash(stored_prev, body, hash_version(stored_hash)) != stored_hash:
            problems.append(
                AuditProblem(
                    number, "hash_mismatch", f"seq {seq}: content does not match its hash (modified)"
                )
            )
        if seq != expected_seq:
            if seq > expected_seq:
                what = (
                    f"seq {seq} where {expected_seq} was expected: records {expected_seq}..{seq - 1} missing"
                )
            else:
                what = f"seq {seq} where {expected_seq} was expected: record reordered, repeated or inserted"
            problems.append(AuditProblem(number, "seq", what))
        if stored_prev != prev_hash:
            problems.append(
                AuditProblem(
                    number,
                    "chain_break",
                    f"seq {seq}: prev_hash does not match the hash of the record before it "
                    "(a record was deleted, inserted, reordered or rewritten)",
                )
            )
        try:
            AuditEvent.model_validate(data)
        except ValidationError as exc:
            problems.append(
                AuditProblem(number, "schema", f"seq {seq}: {exc.error_count()} invalid field(s)")
            )
        prev_hash, expected_seq = stored_hash, seq + 1  # resynchronise: one problem is reported once
        last_seq, last_hash = seq, stored_hash
        line_of_seq.setdefault(seq, (number, stored_hash))
    if torn is not None:
        problems.append(
            AuditProblem(
                len(lines) + 1, "torn", f"last line is incomplete ({len(torn)} bytes, no newline): cut short"
            )
        )
    if expected_head is not None:
        _check_head(expected_head, line_of_seq, last_seq, len(lines), problems, notes)
    return AuditVerification(
        ok=not problems,
        records=records,
        head_hash=last_hash,
        head_seq=last_seq,
        problems=tuple(sorted(problems, key=lambda p: p.line)),
        notes=tuple(notes),
    )


def _check_head(
    head: AuditHead,
    line_of_seq: dict[int, tuple[int, str]],
    last_seq: int,
    line_count: int,
    problems: list[AuditProblem],
    notes: list[str],
) -> None:
    if head.seq == 0:
        return
    if head.seq not in line_of_seq:
        if last_seq < head.seq:
            problems.append(
                AuditProblem(
                    line_count + 1,
                    "truncated",
                    f"the state store's chain head is seq {head.seq} ({head.hash}) but the log ends at seq "
                    f"{last_seq}: records {last_seq + 1}..{head.seq} are missing",
                )
            )
        else:
            problems.append(
                AuditProblem(line_count + 1, "head_missing", f"no record with head seq {head.seq}")
            )
        return
    number, stored_hash = line_of_seq[head.seq]
    if stored_hash != head.hash:
        problems.append(
            AuditProblem(
                number,
                "head_mismatch",
                f"seq {head.seq} has hash {stored_hash}, the state store recorded {head.hash}",
            )
        )
    beyond = last_seq - head.seq
    if beyond == 1:
        notes.append(f"seq {last_seq} is after the store's head (written just before a crash?)")
    elif beyond > 1:
        first = line_of_seq.get(head.seq + 2, (number + 2, ""))[0]
        problems.append(
            AuditProblem(first, "unanchored", f"{beyond} records after the state store's head seq {head.seq}")
        )


def read_events(path: Path | str) -> Iterator[tuple[int, AuditEvent]]:
    """(line number, event) for every well-formed record; use `verify` to know whether to trust them."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return
    lines, _ = _split_lines(raw)
    for number, raw_line in enumerate(lines, start=1):
        data, _, _ = _parse(raw_line)
        if data is None:
            continue
        try:
            yield number, AuditEvent.model_validate(data)
        except ValidationError:
            continue


# -- appending -------------------------------------------------------------------------------------


@dataclass
class _Tail:
    size: int
    seq: int
    hash: str
    prev_hash: str
    torn: bytes | None


def _read_tail(fd: int) -> _Tail:
    size = os.fstat(fd).st_size
    if size == 0:
        return _Tail(0, 0, GENESIS_HASH, "", None)
    chunk = 64 * 1024
    start = max(0, size - chunk)
    data = os.pread(fd, size - start, start)
    while start > 0 and data.count(b"\n") < 2:  # need the start and the end of the last complete line
        start = max(0, start - chunk)
        data = os.pread(fd, size - start, start)
    lines, torn = _split_lines(data)
    if start > 0:
        lines = lines[1:]  # the first piece may start mid-line
    if not lines:
        return _Tail(size, 0, GENESIS_HASH, "", torn)
    record, kind, detail = _parse(lines[-1])
    if record is None:
        raise AuditError(f"the last record of the audit log is unreadable ({kind}: {detail}); run verify")
    return _Tail(size, int(record["seq"]), str(record["hash"]), str(record["prev_hash"]), torn)


class AuditLog:
    """Appends events to `path`. One instance per process; appends are serialised across threads and
    processes (flock on the file) and durable (fsync) before `append` returns.

    With a `head_store`, every append also records the chain head there, and appending refuses to extend a
    log whose tail no longer matches that head (truncated or replaced).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        redactor: Redactor | None = None,
        head_store: HeadStore | None = None,
    ) -> None:
        self.path = Path(path)
        self.redactor = redactor if redactor is not None else Redactor()
        self.head_store = head_store
        self._mutex = threading.Lock()

    def _open(self) -> int:
        existed = self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        if not existed:  # make the new directory entry durable too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return fd

    def _checked_tail(self, fd: int) -> _Tail:
        tail = _read_tail(fd)
        if tail.torn is not None:
            raise AuditError(
                f"{self.path}: the last line is torn ({len(tail.torn)} bytes without a newline); "
                "call repair_torn_tail() before appending"
            )
        head = self.head_store.audit_head() if self.head_store else None
        if head is None or (head.seq == tail.seq and head.hash == tail.hash):
            return tail
        if head.seq > tail.seq:
            raise AuditError(
                f"{self.path}: ends at seq {tail.seq} but the state store's head is seq {head.seq}: "
                "the audit log was truncated or replaced; run `otorch audit verify`"
            )
        if head.seq == tail.seq:
            raise AuditError(f"{self.path}: seq {tail.seq} does not match the state store's head hash")
        if tail.seq == head.seq + 1 and tail.prev_hash == head.hash and self.head_store is not None:
            # the previous append was fsynced but its head not recorded (crash between the two): adopt it
            self.head_store.set_audit_head(AuditHead(seq=tail.seq, hash=tail.hash))
            return tail
        raise AuditError(
            f"{self.path}: {tail.seq - head.seq} records after the state store's head seq {head.seq}"
        )

    def head(self) -> AuditHead | None:
        fd = self._open()
        try:
            tail = _read_tail(fd)
        finally:
            os.close(fd)
        return AuditHead(seq=tail.seq, hash=tail.hash) if tail.seq else None

    def _seal(self, event: AuditEvent, tail: _Tail) -> tuple[dict[str, Any], bytes]:
        body = event.model_dump(mode="json", exclude={"hash"})
        body["seq"], body["prev_hash"] = tail.seq + 1, tail.hash
        content = {k: v for k, v in body.items() if k not in _CHAIN_FIELDS}
        clean, found = self.redactor.scrub(content)
        if found and self.redactor.refuse:
            raise SecretInAudit(
                f"audit event {event.kind!r} carries a registered secret in {', '.join(found)}"
            )
        body.update(clean)
        try:
            record = {**body, "hash": event_hash(body["prev_hash"], body)}
            line = record_text(record)
        except CanonicalJSONError as exc:
            raise AuditError(f"audit event {event.kind!r} has no canonical JSON form: {exc}") from exc
        if self.redactor.contains_secret(line):  # belt and braces: never write one
            raise SecretInAudit(f"audit event {event.kind!r} would write a registered secret")
        return record, line.encode() + b"\n"

    def append(self, event: AuditEvent) -> AuditEvent:
        """Chain, redact, write and fsync `event`; returns it as written (seq, prev_hash, hash set)."""
        with self._mutex:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                tail = self._checked_tail(fd)
                record, data = self._seal(event, tail)
                written = AuditEvent.model_validate(record)
                _write_all(fd, data)
                os.fsync(fd)
                if self.head_store is not None:  # still under the flock: heads advance in order
                    self.head_store.set_audit_head(AuditHead(seq=written.seq, hash=written.hash))
            finally:
                os.close(fd)  # also releases the flock
            return written

    def repair_torn_tail(self, operator: str, now: datetime) -> AuditEvent | None:
        """Move a torn last line (a write cut short by a crash) aside and record that in the chain.

        The fragment is kept in `<log>.torn-<seq>` (nothing is lost); returns the repair event, or None
        when the tail was clean.
        """
        with self._mutex:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                tail = _read_tail(fd)
                if tail.torn is None:
                    return None
                aside = self.path.with_name(f"{self.path.name}.torn-{tail.seq + 1}")
                aside.write_bytes(tail.torn)
                aside_fd = os.open(aside, os.O_RDONLY)
                try:
                    os.fsync(aside_fd)
                finally:
                    os.close(aside_fd)
                os.ftruncate(fd, tail.size - len(tail.torn))
                os.fsync(fd)
                fragment_sha = hashlib.sha256(tail.torn).hexdigest()
            finally:
                os.close(fd)
        return self.append(
            AuditEvent(
                at=now,
                operator=operator,
                kind=AuditKind.AUDIT_REPAIRED,
                result="torn_tail_moved",
                detail={"bytes": len(tail.torn), "fragment_sha256": fragment_sha, "saved_to": str(aside)},
            )
        )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
