"""Approvals at staging time, when a trust file is in force: the wave stager places a host that needs an
approval only on a verified, signed `asset` approval (docs/trust.md), never on the plan's or the policy's
unsigned `approvals`.

The verified statements are converted into the stager's input (the policy's `approvals`, one per host,
naming the signed file), so planning/waves stays as it is; holds are re-worded with the reason a host
stays held (no approval, expired, another plan, an unknown key, ...). Pure except `read_approvals`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from otorchestrator.models.asset import Asset, Criticality
from otorchestrator.models.plan import Approval, Plan
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import WavePlan
from otorchestrator.trust.approvals import Need, Rejected, SignedApproval, assess, read_approvals
from otorchestrator.trust.trustfile import ApprovalKind, SiteTrust, TwoApprovers


class UnsignedApprovals(ValueError):
    """The plan or the policy carries approvals that would place hosts, but the site requires signed ones."""


@dataclass(frozen=True)
class SignedStaging:
    """What staging takes from the signed approvals: the policy to stage with, and for the record which
    file admitted which host and why each held host stays held."""

    policy: WavePolicy
    admitted: dict[str, tuple[SignedApproval, ...]]  # host -> the approvals that placed it
    held: dict[str, str]  # host -> why no signed approval counts
    rejected: tuple[Rejected, ...]  # approval files that did not verify


def unsigned_asset_approvals(approvals: Sequence[Approval], where: Path | str, trust: SiteTrust) -> None:
    """Raise `UnsignedApprovals` naming `where` when it lists any `asset` approval."""
    found = [a for a in approvals if a.kind == ApprovalKind.ASSET.value]
    if not found:
        return
    listed = ", ".join(f"{a.subject} (approved_by {a.approved_by})" for a in found)
    raise UnsignedApprovals(
        f"{where}: carries {len(found)} unsigned asset approval(s): {listed}. The trust file {trust.path} "
        "is in force: a host is placed only on a signed approval file (`otorch approve asset --asset HOST "
        "--plan PLAN --approver YOU --reason ... --key KEY`, written to "
        f"{trust.approvals_dir}); remove `approvals` from {where}"
    )


def _two(trust: SiteTrust, asset: Asset) -> bool:
    two = set(trust.spec.two_approvers)
    return (asset.safety_system and TwoApprovers.SAFETY_SYSTEM in two) or (
        asset.criticality.rank >= Criticality.HIGH.rank and TwoApprovers.HIGH_CRITICALITY in two
    )


def _as_approval(admitted: tuple[SignedApproval, ...]) -> Approval:
    first = admitted[0].statement
    return Approval(
        kind=ApprovalKind.ASSET.value,
        subject=first.asset or "",
        approved_by=", ".join(a.signer for a in admitted),
        reason=f"{first.reason} [signed: {', '.join(a.path.name for a in admitted)}]",
        at=max(a.statement.valid_from for a in admitted),
    )


def signed_staging(
    plan: Plan, policy: WavePolicy, trust: SiteTrust, approvals_dir: Path | None, now: datetime
) -> SignedStaging:
    """The policy to stage `plan` with: its `approvals` replaced by one per host that a verified signed
    asset approval admits (for this plan's content hash, valid at `now`, by an approver the trust file
    lets approve the host)."""
    good, bad = read_approvals(approvals_dir or trust.approvals_dir, trust)
    deployable: dict[str, list[str]] = {}
    for item in plan.items:
        if item.decision in policy.include_decisions:
            deployable.setdefault(item.asset, []).append(item.patch_id)
    admitted: dict[str, tuple[SignedApproval, ...]] = {}
    held: dict[str, str] = {}
    for asset in plan.assets:
        patches = deployable.get(asset.name)
        if not patches or not policy.needs_approval(asset.criticality, asset.safety_system):
            continue
        need = Need(
            ApprovalKind.ASSET, asset.name, asset.site, asset.zone, asset.safety_system, tuple(patches),
            _two(trust, asset),
        )  # fmt: skip
        verdict = assess(need, good, trust, "", plan.content_hash, now)
        if verdict.problem is None:
            admitted[asset.name] = verdict.admitted
        else:
            rejected = [f"{r.path.name}: {r.reason}" for r in bad if f"-{asset.name}-" in r.path.name]
            extra = f"; rejected approval files: {'; '.join(rejected)}" if rejected else ""
            held[asset.name] = verdict.problem + extra
    approvals = tuple(_as_approval(a) for a in admitted.values())
    return SignedStaging(policy.model_copy(update={"approvals": approvals}), admitted, held, bad)


def reword_holds(wave_plan: WavePlan, staging: SignedStaging, trust: SiteTrust, plan_file: Path) -> WavePlan:
    """The wave plan with each approval hold saying why no signed approval counts and what releases it
    (re-sealed)."""
    holds = []
    for hold in wave_plan.holds:
        why = staging.held.get(hold.asset)
        if why is None:
            holds.append(hold)
            continue
        release = (
            f"a signed asset approval by an approver of {trust.path}: `otorch approve asset --asset "
            f"{hold.asset} --plan {plan_file} --approver NAME --reason ... --key KEY`"
        )
        holds.append(hold.model_copy(update={"reason": f"{hold.reason}: {why}", "release": release}))
    return wave_plan.model_copy(update={"holds": tuple(holds)}).sealed()
