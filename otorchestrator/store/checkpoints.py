"""Signed checkpoints of the audit chain: a consistently rewritten log plus a moved head is detected.

At every run start, wave end and run end the checkpoint sink signs a statement (seq and hash of that
record, run, time, point, signer) with an SSH key kept apart from the state directory (`ssh-keygen -Y
sign`, namespace `otorch-audit-checkpoint`) and appends it to the log as an `audit_checkpoint` record, so
the SIEM copy holds it too. Recomputing the chain after an edit changes the hash a checkpoint signed: the
statement no longer matches the log, and a new statement cannot be signed without the key.

`verify_checkpoints` checks every checkpoint against the log and the site trust file (who may sign), and
(with `require`) that every run start, wave end and run end of a checkpointed run has its checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from otorchestrator.models.canonical import jcs
from otorchestrator.models.run import AuditEvent, AuditKind
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.audit_records import parse_line, split_lines
from otorchestrator.store.audit_verify import AuditProblem
from otorchestrator.store.errors import AuditUnavailable
from otorchestrator.trust import sshsig
from otorchestrator.trust.trustfile import SiteTrust

NAMESPACE = "otorch-audit-checkpoint"
CHECKPOINT_KIND = "audit_checkpoint"
SCHEMA: Literal["otorch-audit-checkpoint/1"] = "otorch-audit-checkpoint/1"
Point = Literal["run_start", "wave_end", "run_end"]
# the audit kinds a checkpoint follows (wave kinds are written by execution/recorder.py)
POINTS: dict[str, Point] = {
    AuditKind.RUN_STARTED.value: "run_start",
    AuditKind.RUN_RESUMED.value: "run_start",
    "wave_finished": "wave_end",
    "wave_halted": "wave_end",
    AuditKind.RUN_STATUS.value: "run_end",
}

Signer = Callable[[bytes, Path, str], str]  # (data, key, namespace) -> armored signature


class CheckpointError(ValueError):
    """A checkpoint key that cannot be used (missing, inside the state directory)."""


class CheckpointStatement(BaseModel):
    """What a checkpoint signs: the record at `seq` has hash `head`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_: Literal["otorch-audit-checkpoint/1"] = Field(default=SCHEMA, alias="schema")
    seq: int
    head: str
    run_id: str | None
    at: datetime
    point: Point
    signer: str

    def signed_bytes(self) -> bytes:
        """The exact bytes signed: RFC 8785 canonical JSON of the statement."""
        return jcs(self.model_dump(mode="json", by_alias=True)).encode()

    def as_detail(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data


def check_key_location(key: Path, state_dir: Path) -> None:
    """The checkpoint key must exist and live outside the state directory: whoever can rewrite the state
    directory must not be able to re-sign it."""
    if not key.is_file():
        raise CheckpointError(f"checkpoint key {key}: no such file")
    resolved, root = key.resolve(), state_dir.resolve()
    if resolved == root or root in resolved.parents:
        raise CheckpointError(
            f"checkpoint key {key} is inside the state directory {state_dir}: keep it apart "
            "(e.g. /etc/otorchestrator/keys/audit, readable only by the account that runs otorch)"
        )


class CheckpointSink:
    """An audit sink: after each run start, wave end and run end, append a signed checkpoint."""

    def __init__(self, key: Path, signer: str, sign: Signer = sshsig.sign) -> None:
        self.key = key
        self.signer = signer
        self._sign = sign

    def statement(self, record: AuditEvent) -> CheckpointStatement | None:
        point = POINTS.get(record.kind)
        if point is None:
            return None
        return CheckpointStatement(
            seq=record.seq,
            head=record.hash,
            run_id=record.run_id,
            at=record.at,
            point=point,
            signer=self.signer,
        )

    def written(self, record: AuditEvent, log: AuditLog) -> None:
        statement = self.statement(record)
        if statement is None:
            return
        try:
            signature = self._sign(statement.signed_bytes(), self.key, NAMESPACE)
        except sshsig.SshSigError as exc:
            raise AuditUnavailable(
                f"audit checkpoint after seq {record.seq} could not be signed: {exc}", written=True
            ) from exc
        log.append(
            AuditEvent(
                at=record.at,
                operator=record.operator,
                kind=CHECKPOINT_KIND,
                run_id=record.run_id,
                wave=record.wave,
                result=statement.point,
                detail={"statement": statement.as_detail(), "signature": signature},
            )
        )

    def close(self) -> None:
        return None


# -- verification ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointReport:
    found: int
    verified: int  # signature checked and good
    covered_seq: int  # the highest seq a good checkpoint covers (0: none)
    last_seq: int
    signers: tuple[str, ...] = ()
    problems: tuple[AuditProblem, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Line:
    number: int
    data: dict[str, Any]


def _records(path: Path) -> list[_Line]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    lines, _ = split_lines(raw)
    out = []
    for number, raw_line in enumerate(lines, start=1):
        data, _, _ = parse_line(raw_line)
        if data is not None:
            out.append(_Line(number, data))
    return out


def _allowed(trust: SiteTrust) -> tuple[str, ...]:
    return trust.spec.audit_signers


def _check_signature(
    statement: CheckpointStatement, signature: str, trust: SiteTrust, line: int, seq: int
) -> tuple[str | None, AuditProblem | None]:
    try:
        principal = sshsig.verify_any(statement.signed_bytes(), signature, trust.allowed_signers, NAMESPACE)
    except sshsig.SshSigError as exc:
        return None, AuditProblem(line, "checkpoint_signature", f"checkpoint seq {seq}: {exc}")
    if principal != statement.signer:
        return None, AuditProblem(
            line,
            "checkpoint_signature",
            f"checkpoint seq {seq}: signed by {principal}, the statement names {statement.signer}",
        )
    allowed = _allowed(trust)
    if allowed and principal not in allowed:
        return None, AuditProblem(
            line,
            "checkpoint_signer",
            f"checkpoint seq {seq}: signed by {principal}, who is not an audit signer in {trust.path} "
            f"(audit_signers: {', '.join(allowed)})",
        )
    return principal, None


def verify_checkpoints(path: Path | str, trust: SiteTrust | None, require: bool = False) -> CheckpointReport:
    """Check every checkpoint record of the log at `path`: its statement matches the log (same hash at
    that seq) and, with `trust`, its signature is by an allowed signer. With `require`, every run start,
    wave end and run end must be followed by its checkpoint, and a log with none is a problem."""
    records = _records(Path(path))
    hash_at = {r.data["seq"]: (r.number, r.data["hash"]) for r in reversed(records)}  # first wins
    problems: list[AuditProblem] = []
    notes: list[str] = []
    found = verified = covered = 0
    signers: set[str] = set()
    checkpointed: set[int] = set()  # seqs a (matching) checkpoint names
    for r in records:
        if r.data.get("kind") != CHECKPOINT_KIND:
            continue
        found += 1
        seq, detail = r.data["seq"], r.data.get("detail") or {}
        try:
            statement = CheckpointStatement.model_validate(detail.get("statement"))
        except ValidationError as exc:
            problems.append(
                AuditProblem(r.number, "checkpoint_malformed", f"seq {seq}: {exc.error_count()} bad field(s)")
            )
            continue
        checkpointed.add(statement.seq)
        at = hash_at.get(statement.seq)
        if statement.seq >= seq or at is None or at[1] != statement.head:
            actual = f"hash {at[1]}" if at else "no such record"
            problems.append(
                AuditProblem(
                    r.number,
                    "checkpoint_mismatch",
                    f"checkpoint seq {seq} signed seq {statement.seq} = {statement.head}; the log has "
                    f"{actual} there: the records up to seq {statement.seq} were changed after they were "
                    "checkpointed",
                )
            )
            continue
        if trust is None:
            continue
        principal, problem = _check_signature(
            statement, str(detail.get("signature", "")), trust, r.number, seq
        )
        if problem is not None:
            problems.append(problem)
            continue
        verified += 1
        covered = max(covered, statement.seq)
        signers.add(str(principal))
    if trust is None and found:
        notes.append(f"{found} checkpoint(s) found; signatures not checked: no trust file (--trust)")
    elif trust is not None and found and not _allowed(trust):
        notes.append(
            f"{trust.path} names no audit_signers: any identity of the trust file may sign checkpoints"
        )
    if require:
        problems += _missing(records, checkpointed)
    last_seq = records[-1].data["seq"] if records else 0
    if trust is not None and covered and last_seq > covered + 1 and not problems:
        notes.append(
            f"records after seq {covered} (to {last_seq}) are not yet covered by a signed checkpoint"
        )
    return CheckpointReport(
        found=found,
        verified=verified,
        covered_seq=covered,
        last_seq=last_seq,
        signers=tuple(sorted(signers)),
        problems=tuple(sorted(problems, key=lambda p: p.line)),
        notes=tuple(notes),
    )


def _missing(records: Sequence[_Line], checkpointed: Iterable[int]) -> list[AuditProblem]:
    named = set(checkpointed)
    problems = []
    for r in records:
        point = POINTS.get(str(r.data.get("kind")))
        if point is not None and r.data["seq"] not in named:
            problems.append(
                AuditProblem(
                    r.number,
                    "checkpoint_missing",
                    f"seq {r.data['seq']} ({r.data['kind']}, run {r.data.get('run_id')}) has no signed "
                    f"checkpoint ({point}): checkpoints were off or removed",
                )
            )
    return problems
