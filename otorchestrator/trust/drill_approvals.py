"""Drill approvals when a trust file is in force: a safety-system host is drilled only on a verified,
signed `drill` approval (namespace otorch-approval), by an approver the trust file lets approve safety
systems there, who is not the drill's operator, valid now (two approvers when `two_approvers` names
safety_system). The verified statements become the drill's approvals; the engine (execution/drill.py)
refuses the rest with the reason found here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from otorchestrator.models.asset import Asset
from otorchestrator.models.plan import Approval
from otorchestrator.trust.approvals import Need, assess, read_approvals
from otorchestrator.trust.trustfile import ApprovalKind, SiteTrust, TwoApprovers


@dataclass(frozen=True)
class SignedDrillApprovals:
    approvals: tuple[Approval, ...]  # one per safety-system host a signed approval releases
    problems: dict[str, str]  # host -> why no signed approval counts
    consulted: str  # where they were read (the drill report and audit name it)


def signed_drill_approvals(
    assets: Sequence[Asset], trust: SiteTrust, directory: Path | None, operator: str, now: datetime
) -> SignedDrillApprovals:
    where = directory or trust.approvals_dir
    good, bad = read_approvals(where, trust)
    two = TwoApprovers.SAFETY_SYSTEM in trust.spec.two_approvers
    approvals: list[Approval] = []
    problems: dict[str, str] = {}
    for asset in assets:
        if not asset.safety_system:
            continue
        need = Need(ApprovalKind.DRILL, asset.name, asset.site, asset.zone, True, (), two)
        verdict = assess(need, good, trust, operator, "", now)
        if verdict.problem is None:
            first = verdict.admitted[0].statement
            approvals.append(
                Approval(
                    kind=ApprovalKind.DRILL.value,
                    subject=asset.name,
                    approved_by=", ".join(a.signer for a in verdict.admitted),
                    reason=f"{first.reason} [signed: {', '.join(a.path.name for a in verdict.admitted)}]",
                    at=max(a.statement.valid_from for a in verdict.admitted),
                )
            )
            continue
        rejected = [f"{r.path.name}: {r.reason}" for r in bad if f"-{asset.name}-" in r.path.name]
        extra = f"; rejected approval files: {'; '.join(rejected)}" if rejected else ""
        problems[asset.name] = f"no signed drill approval counts: {verdict.problem}{extra}"
    return SignedDrillApprovals(tuple(approvals), problems, f"signed approvals {where} (trust {trust.path})")
