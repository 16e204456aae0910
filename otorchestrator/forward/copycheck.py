"""The audit log against an exported copy: what the SIEM received (an rsyslog file of RFC 5424 lines, a
traditional-format file whose messages are the CEF text, or a JSON-lines copy of the log).

Every record of the copy must be in the local log with the same RFC 8785 text; every local record from the
copy's first seq on must be in the copy. Records before the copy's first seq (written before forwarding
was configured) are a note.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otorchestrator.forward.rfc5424 import SyslogFormatError, record_of_line
from otorchestrator.store.audit_records import parse_line, split_lines


@dataclass(frozen=True)
class CopyProblem:
    where: str  # "copy line N" or "seq N"
    kind: str  # unreadable | differs | rechained | only_in_copy | not_in_copy
    detail: str


@dataclass(frozen=True)
class CopyCheck:
    copy: str
    lines: int
    records: int
    first_seq: int | None
    last_seq: int | None
    problems: tuple[CopyProblem, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def _local(log: Path) -> dict[int, str]:
    try:
        raw = log.read_bytes()
    except FileNotFoundError:
        return {}
    lines, _ = split_lines(raw)
    out: dict[int, str] = {}
    for raw_line in lines:
        data, _, _ = parse_line(raw_line)
        if data is not None:
            out.setdefault(int(data["seq"]), raw_line.decode("utf-8"))
    return out


def _differences(local: str, copy: str) -> str:
    try:
        a, b = json.loads(local), json.loads(copy)
    except json.JSONDecodeError:
        return "the copy's record is not JSON"
    if not isinstance(b, dict):
        return "the copy's record is not an object"
    keys = sorted(k for k in {*a, *b} if a.get(k) != b.get(k))
    shown = [f"{k}: local {_short(a.get(k))}, copy {_short(b.get(k))}" for k in keys if k != "hash"]
    if "hash" in keys:
        shown.append("hash differs")
    return "; ".join(shown) or "the text differs (not canonical)"


def _only_chain_differs(local: str, copy: str) -> bool:
    try:
        a, b = json.loads(local), json.loads(copy)
    except json.JSONDecodeError:
        return False
    chain = {"prev_hash", "hash"}
    return isinstance(b, dict) and {k: v for k, v in a.items() if k not in chain} == {
        k: v for k, v in b.items() if k not in chain
    }


def _rechained(items: list[tuple[int, int]]) -> list[CopyProblem]:
    """Runs of records whose content equals the copy's but whose chain hashes differ, one problem per run:
    what a recomputed chain after an edited (or removed) record looks like."""
    out: list[CopyProblem] = []
    start = 0
    for i in range(1, len(items) + 1):
        if i == len(items) or items[i][1] != items[i - 1][1] + 1:
            (line0, seq0), (line1, seq1) = items[start], items[i - 1]
            span = f"seq {seq0}" if seq0 == seq1 else f"seq {seq0}..{seq1}"
            lines = f"copy line {line0}" if line0 == line1 else f"copy lines {line0}..{line1}"
            out.append(
                CopyProblem(
                    lines,
                    "rechained",
                    f"{span}: content equal, prev_hash/hash differ: the local chain was recomputed",
                )
            )
            start = i
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def compare_copy(log: Path, copy: Path) -> CopyCheck:
    local = _local(log)
    problems: list[CopyProblem] = []
    notes: list[str] = []
    seen: dict[int, tuple[int, str]] = {}
    rechained: list[tuple[int, int]] = []  # (copy line, seq) whose content is equal, chain hashes not
    lines = copy.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            text = record_of_line(line)
            seq = json.loads(text)["seq"]
        except (SyslogFormatError, json.JSONDecodeError, KeyError, TypeError) as exc:
            problems.append(CopyProblem(f"copy line {number}", "unreadable", str(exc) or type(exc).__name__))
            continue
        if not isinstance(seq, int):
            problems.append(CopyProblem(f"copy line {number}", "unreadable", "seq is not a number"))
            continue
        if seq in seen:
            if seen[seq][1] != text:
                problems.append(
                    CopyProblem(
                        f"copy line {number}", "differs", f"seq {seq} twice, different (line {seen[seq][0]})"
                    )
                )
            else:
                notes.append(f"seq {seq} is twice in the copy (a resend), identical")
            continue
        seen[seq] = (number, text)
        if seq not in local:
            problems.append(
                CopyProblem(
                    f"copy line {number}", "only_in_copy", f"seq {seq} is not in the local log (removed?)"
                )
            )
        elif local[seq] != text:
            if _only_chain_differs(local[seq], text):
                rechained.append((number, seq))
                continue
            problems.append(
                CopyProblem(f"copy line {number}", "differs", f"seq {seq}: {_differences(local[seq], text)}")
            )
    problems += _rechained(rechained)
    first = min(seen) if seen else None
    last = max(seen) if seen else None
    if first is not None:
        before = [s for s in local if s < first]
        if before:
            notes.append(
                f"local seq {min(before)}..{max(before)} precede the copy's first record (seq {first}): "
                "written before forwarding was configured"
            )
        for seq in sorted(s for s in local if s >= first and s not in seen):
            why = "after the copy's last record" if last is not None and seq > last else "a gap in the copy"
            problems.append(CopyProblem(f"seq {seq}", "not_in_copy", f"local record not in the copy ({why})"))
    elif local:
        problems.append(CopyProblem("copy", "not_in_copy", f"the copy holds no record of the {len(local)}"))
    return CopyCheck(
        copy=str(copy),
        lines=len(lines),
        records=len(seen),
        first_seq=first,
        last_seq=last,
        problems=tuple(problems),
        notes=tuple(notes),
    )
