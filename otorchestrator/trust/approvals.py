"""Signed approvals: a JSON statement and its detached SSH signature (namespace `otorch-approval`).

An approval names its subject (the asset, the patches, the plan content hash), its kind, the approver
(who must be the signer), a reason and a validity window. `otorch approve` writes one. Whether it counts
for a host is decided here, purely, from the verified statements, the trust file and `now`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from otorchestrator.models.plan import Approval
from otorchestrator.trust.signed import Kind, sig_path, verify_bytes
from otorchestrator.trust.sshsig import SshSigError
from otorchestrator.trust.trustfile import ApprovalKind, SiteTrust

SUFFIX = ".approval.json"


class ApprovalStatement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    kind: ApprovalKind
    asset: str | None = None  # asset and drill: required; unqualified_patch: None = any asset
    patches: tuple[str, ...] = ()  # asset: empty = whatever the plan gives it; unqualified_patch: required
    plan_hash: str | None = None  # the plan content hash approved (asset: required)
    approver: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    valid_from: datetime
    valid_until: datetime

    @model_validator(mode="after")
    def _subject(self) -> ApprovalStatement:
        if self.kind in (ApprovalKind.ASSET, ApprovalKind.DRILL) and not self.asset:
            raise ValueError(f"a {self.kind.value} approval names its asset")
        if self.kind is ApprovalKind.ASSET and not self.plan_hash:
            raise ValueError("an asset approval names the plan content hash it approves (plan_hash)")
        if self.kind is ApprovalKind.UNQUALIFIED_PATCH and not self.patches:
            raise ValueError("an unqualified_patch approval names its patches")
        if self.valid_from.tzinfo is None or self.valid_until.tzinfo is None:
            raise ValueError("valid_from and valid_until need a UTC offset")
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if not self.reason.strip():
            raise ValueError("the reason is blank")
        return self

    def subject(self) -> str:
        patches = ",".join(self.patches)
        if self.kind is ApprovalKind.UNQUALIFIED_PATCH:
            return f"{patches}@{self.asset}" if self.asset else patches
        return self.asset or ""

    def as_plan_approval(self) -> Approval:
        """The unsigned form the planner and the wave stager read (plan/policy `approvals`)."""
        return Approval(
            kind=self.kind.value, subject=self.subject(), approved_by=self.approver, reason=self.reason,
            at=self.valid_from,
        )  # fmt: skip


def file_name(statement: ApprovalStatement) -> str:
    subject = statement.subject().replace("@", "-at-").replace(",", "+") or "any"
    return (
        f"{statement.kind.value}-{subject}-{statement.approver}-{statement.valid_from:%Y%m%dT%H%M%S}{SUFFIX}"
    )


def write_statement(statement: ApprovalStatement, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name(statement)
    path.write_text(statement.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class SignedApproval:
    statement: ApprovalStatement
    signer: str
    path: Path
    sha256: str = ""  # of the file's bytes as verified (the audit log names it)

    def evidence(self) -> dict[str, str]:
        """What the audit log records of an approval that admitted a host."""
        s = self.statement
        return {
            "kind": s.kind.value, "file": self.path.name, "approver": self.signer,
            "valid_until": s.valid_until.isoformat(), "sha256": self.sha256,
        }  # fmt: skip


@dataclass(frozen=True)
class Rejected:
    path: Path
    reason: str


def read_approvals(
    directory: Path, trust: SiteTrust
) -> tuple[tuple[SignedApproval, ...], tuple[Rejected, ...]]:
    """Every approval file in `directory` whose signature verifies and whose signer is its approver;
    every other file with the reason it does not count (unknown key, unsigned, altered, ...)."""
    good: list[SignedApproval] = []
    bad: list[Rejected] = []
    if not directory.is_dir():
        return (), ()
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:  # read once: the bytes parsed are the bytes verified
            data = path.read_bytes()
            statement = ApprovalStatement.model_validate_json(data)
        except (OSError, ValidationError) as exc:
            bad.append(Rejected(path, f"not an approval statement: {exc}".replace("\n", " ")[:300]))
            continue
        sig = sig_path(path)
        if not sig.is_file():
            bad.append(Rejected(path, "not signed"))
            continue
        try:
            signature = sig.read_text(encoding="ascii", errors="replace")
            signer = verify_bytes(data, signature, trust, Kind.APPROVAL, str(path))
        except (OSError, SshSigError) as exc:
            bad.append(Rejected(path, str(exc)))
            continue
        if signer != statement.approver:
            bad.append(Rejected(path, f"names approver {statement.approver} but was signed by {signer}"))
            continue
        good.append(SignedApproval(statement, signer, path, hashlib.sha256(data).hexdigest()))
    return tuple(good), tuple(bad)


@dataclass(frozen=True)
class Need:
    """What a host (or a patch on it) needs approved, re-derived from the inventory and the catalog."""

    kind: ApprovalKind
    asset: str
    site: str
    zone: str
    safety_system: bool
    patches: tuple[str, ...]
    two: bool  # policy asks for two distinct approvers


@dataclass(frozen=True)
class Verdict:
    """What the approvals say about one need: those that count (`admitted`), and why not, if not enough."""

    admitted: tuple[SignedApproval, ...]
    problem: str | None  # None: enough valid approvals


def assess(
    need: Need,
    approvals: Sequence[SignedApproval],
    trust: SiteTrust,
    operator: str,
    plan_hash: str,
    now: datetime,
) -> Verdict:
    """The approvals that count for `need` and, when they are not enough, why (every candidate's reason,
    so an expired or self-signed approval is named as such)."""
    counted: dict[str, SignedApproval] = {}
    why_not: list[str] = []
    for signed in approvals:
        s = signed.statement
        if s.kind is not need.kind:
            continue
        if need.kind is ApprovalKind.UNQUALIFIED_PATCH:
            if s.asset not in (None, need.asset) or not set(need.patches) <= set(s.patches):
                continue
        elif s.asset != need.asset:
            continue
        name = signed.path.name
        if s.plan_hash is not None and need.kind is not ApprovalKind.DRILL and s.plan_hash != plan_hash:
            why_not.append(f"{name}: approves plan {s.plan_hash}, this run's plan is {plan_hash}")
        elif need.kind is ApprovalKind.ASSET and s.patches and not set(need.patches) <= set(s.patches):
            why_not.append(f"{name}: approves {', '.join(s.patches)}, not {', '.join(need.patches)}")
        elif now < s.valid_from:
            why_not.append(f"{name}: not valid before {s.valid_from.isoformat()}")
        elif now >= s.valid_until:
            why_not.append(f"{name}: expired {s.valid_until.isoformat()}")
        elif operator and signed.signer == operator:
            why_not.append(
                f"{name}: signed by {operator}, the operator of this run (separation of duties: "
                "someone else must approve)"
            )
        elif not trust.may_approve(signed.signer, need.kind, need.site, need.zone, need.safety_system):
            scope = "safety systems" if need.safety_system else f"site {need.site}, zone {need.zone}"
            why_not.append(f"{name}: {signed.signer} may not approve {need.kind.value} for {scope}")
        else:
            counted.setdefault(signed.signer, signed)
    wanted = 2 if need.two else 1
    admitted = tuple(counted.values())
    if len(admitted) >= wanted:
        return Verdict(admitted, None)
    what = f"{need.kind.value} approval" + (
        "" if need.kind is not ApprovalKind.UNQUALIFIED_PATCH else f" of {', '.join(need.patches)}"
    )
    who = f" by someone other than {operator}" if operator else ""
    have = f"; valid from {', '.join(sorted(counted))} only" if counted else ""
    detail = f" ({'; '.join(why_not)})" if why_not else ""
    return Verdict(admitted, f"needs {wanted} signed {what}(s){who}{have}{detail}")


def judge(
    need: Need,
    approvals: Sequence[SignedApproval],
    trust: SiteTrust,
    operator: str,
    plan_hash: str,
    now: datetime,
) -> str | None:
    """None when `approvals` hold enough valid approvals for `need`; otherwise why not."""
    return assess(need, approvals, trust, operator, plan_hash, now).problem


def statement_json(statement: ApprovalStatement) -> str:
    return json.dumps(statement.model_dump(mode="json"), indent=2)
