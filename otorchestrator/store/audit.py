"""The audit trail: append-only, hash-chained JSON lines, fsynced before the action they record.

Each line is the RFC 8785 canonical JSON of an `AuditEvent` where
`hash = "jcs-sha256:" + sha256(prev_hash + jcs(event without "hash"))` and `prev_hash` is the hash of the
line before (`GENESIS_HASH` for the first). Records written before RFC 8785 carry `sha256:` hashes over the
older `json.dumps(sort_keys=True)` text and still verify (the hash names its form). The state store keeps
the chain head (seq, hash) so a truncated tail is detected too. `verify` reports each problem with its line.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from otorchestrator.models.canonical import CanonicalJSONError
from otorchestrator.models.run import GENESIS_HASH, AuditEvent, AuditHead, AuditKind
from otorchestrator.store.audit_records import (
    CHAIN_FIELDS,
    event_hash,
    parse_line,
    record_text,
    split_lines,
)
from otorchestrator.store.audit_verify import AuditProblem, AuditVerification, read_events, verify
from otorchestrator.store.errors import AuditError, AuditUnavailable, SecretInAudit
from otorchestrator.store.redact import Redactor

__all__ = [
    "AuditLog",
    "AuditProblem",
    "AuditSink",
    "AuditVerification",
    "HeadStore",
    "event_hash",
    "read_events",
    "record_text",
    "verify",
]


class HeadStore(Protocol):
    """Where the chain head is anchored (the `StateStore` implements this)."""

    def set_audit_head(self, head: AuditHead) -> None: ...

    def audit_head(self) -> AuditHead | None: ...


class AuditSink(Protocol):
    """Sees every record once it is durable in the local log (syslog forwarding, signed checkpoints).

    Called outside the log's lock, in write order for one thread; may append to `log` itself (a
    checkpoint). Raises `AuditUnavailable` when the run must not go on (e.g. forwarding failed and the
    site's policy is to halt)."""

    def written(self, record: AuditEvent, log: AuditLog) -> None: ...

    def close(self) -> None: ...


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
    lines, torn = split_lines(data)
    if start > 0:
        lines = lines[1:]  # the first piece may start mid-line
    if not lines:
        return _Tail(size, 0, GENESIS_HASH, "", torn)
    record, kind, detail = parse_line(lines[-1])
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
        sinks: Sequence[AuditSink] = (),
    ) -> None:
        self.path = Path(path)
        self.redactor = redactor if redactor is not None else Redactor()
        self.head_store = head_store
        self.sinks: list[AuditSink] = list(sinks)
        self._mutex = threading.Lock()

    def _open(self) -> int:
        try:
            existed = self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            if not existed:  # make the new directory entry durable too
                dir_fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as exc:
            raise AuditUnavailable(f"{self.path}: cannot open the audit log: {exc.strerror or exc}") from exc
        return fd

    def check_writable(self) -> None:
        """Raises `AuditUnavailable` unless the log can be opened for appending (before a run starts)."""
        os.close(self._open())

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

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
        content = {k: v for k, v in body.items() if k not in CHAIN_FIELDS}
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
        """Chain, redact, write and fsync `event`, then hand it to the sinks; returns it as written (seq,
        prev_hash, hash set). Raises `AuditUnavailable` when it cannot be written, or a sink says so (then
        the record is in the local log: `written` is True)."""
        with self._mutex:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                tail = self._checked_tail(fd)
                record, data = self._seal(event, tail)
                written = AuditEvent.model_validate(record)
                try:
                    _write_all(fd, data)
                    os.fsync(fd)
                except OSError as exc:
                    _cut_back(fd, tail.size)
                    raise AuditUnavailable(
                        f"{self.path}: cannot write the audit log: {exc.strerror or exc}"
                    ) from exc
                if self.head_store is not None:  # still under the flock: heads advance in order
                    self.head_store.set_audit_head(AuditHead(seq=written.seq, hash=written.hash))
            finally:
                os.close(fd)  # also releases the flock
        for sink in self.sinks:
            sink.written(written, self)
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


def _cut_back(fd: int, size: int) -> None:
    """Undo a partial write (a full disk): the log ends where it did; when even that fails, the torn tail
    is found (and moved aside) by the next append's check or `repair_torn_tail`."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, size)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
