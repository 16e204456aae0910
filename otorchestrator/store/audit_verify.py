"""Verifying the audit chain: every record canonical, hashed, in sequence, chained, and anchored to the
state store's head. Each problem names its line. (Signed checkpoints: `checkpoints.py`; the store cross-check:
`crosscheck.py`; an exported copy: `copycheck.py`.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from otorchestrator.models.canonical import hash_version
from otorchestrator.models.run import GENESIS_HASH, AuditEvent, AuditHead
from otorchestrator.store.audit_records import event_hash, parse_line, split_lines


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


def verify(path: Path | str, expected_head: AuditHead | None = None) -> AuditVerification:
    """Check the whole chain. `expected_head` (from the state store) also catches a truncated tail."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raw = b""
    lines, torn = split_lines(raw)
    problems: list[AuditProblem] = []
    notes: list[str] = []
    prev_hash = GENESIS_HASH
    expected_seq = 1
    records = 0
    last_seq, last_hash = 0, None
    line_of_seq: dict[int, tuple[int, str]] = {}
    for number, raw_line in enumerate(lines, start=1):
        data, kind, detail = parse_line(raw_line)
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
    lines, _ = split_lines(raw)
    for number, raw_line in enumerate(lines, start=1):
        data, _, _ = parse_line(raw_line)
        if data is None:
            continue
        try:
            yield number, AuditEvent.model_validate(data)
        except ValidationError:
            continue
