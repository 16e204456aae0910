"""The exemption/approval overlay on an item's SSVC decision (_overlay -> _Overlay: exempt, blocked for an
unqualified patch without an override, or flagged for an asset approval), with the asset approval rule
(_needs_asset_approval), the exemption's reference in the plan (_ref) and the asset names approvals may name
(_asset_specific)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from otorchestrator.models.asset import Asset, Criticality
from otorchestrator.models.catalog import Patch, Qualification
from otorchestrator.models.exemption import Exemption
from otorchestrator.models.plan import Approval, Decision, ExemptionRef


def _needs_asset_approval(asset: Asset) -> str | None:
    if asset.safety_system:
        return "safety system"
    if asset.criticality in (Criticality.HIGH, Criticality.CRITICAL):
        return f"criticality {asset.criticality.value}"
    return None


def _ref(exemption: Exemption, now: datetime) -> ExemptionRef:
    return ExemptionRef(
        id=exemption.id,
        reason=exemption.reason,
        compensating_controls=exemption.compensating_controls,
        approver=exemption.approver,
        expires=exemption.expires,
        expired=exemption.is_expired(now),
    )


@dataclass(frozen=True, slots=True)
class _Overlay:
    decision: Decision
    reasons: tuple[str, ...]
    exemption: ExemptionRef | None
    override: Approval | None


def _overlay(
    asset: Asset,
    patch: Patch,
    cves: tuple[str, ...],
    ssvc: Decision,
    exemptions: tuple[Exemption, ...],
    approvals: dict[tuple[str, str], Approval],
    now: datetime,
) -> _Overlay:
    reasons: list[str] = []
    decision, ref, override = ssvc, None, None
    scoped = [e for e in exemptions if e.covers_asset(asset.name, asset.groups)] if exemptions else []
    relevant = [e for e in scoped if patch.id in e.patches or any(c in e.cves for c in cves)]
    active = [e for e in relevant if not e.is_expired(now)]
    for expired in (e for e in relevant if e.is_expired(now)):
        reasons.append(f"exemption {expired.id} expired {expired.expires.isoformat()}: flagged, not applied")
        ref = ref or _ref(expired, now)
    covered = {c for e in active for c in e.cves}
    applying = [e for e in active if patch.id in e.patches] or (
        active if active and all(c in covered for c in cves) else []
    )
    if applying:
        chosen = applying[0]
        decision, ref = Decision.EXEMPT, _ref(chosen, now)
        reasons.append(
            f"exempt under {chosen.id} until {chosen.expires.isoformat()} (approved by {chosen.approver}): "
            f"{chosen.reason}; compensating controls: {'; '.join(chosen.compensating_controls)}"
        )
    elif active:
        missing = sorted(c for c in cves if c not in covered)
        reasons.append(
            f"exemption {active[0].id} covers only part of the CVEs; not exempt for {', '.join(missing)}"
        )
    if decision is not Decision.EXEMPT and patch.qualification is not Qualification.QUALIFIED:
        approval = approvals.get(("unqualified_patch", f"{patch.id}@{asset.name}")) or approvals.get(
            ("unqualified_patch", patch.id)
        )
        if approval is None:
            reasons.append(
                f"blocked: patch {patch.id} is {patch.qualification.value} by the vendor and the plan "
                "records no "
                "override (approval kind unqualified_patch)"
            )
            decision = Decision.BLOCKED
        else:
            override = approval
            reasons.append(
                f"patch {patch.id} is {patch.qualification.value}: "
                f"override approved by {approval.approved_by} "
                f"at {approval.at.isoformat()}: {approval.reason}"
            )
    need = _needs_asset_approval(asset)
    if need and decision.deployable:
        approved = approvals.get(("asset", asset.name))
        reasons.append(
            f"{need}: asset approval by {approved.approved_by}"
            if approved
            else f"{need}: needs an asset approval recorded in the plan before a wave may include it"
        )
    return _Overlay(decision, tuple(reasons), ref, override)


def _asset_specific(approvals: dict[tuple[str, str], Approval]) -> set[str]:
    """Asset names an approval may name: `asset` subjects and every `<patch>@<asset>` reading of a subject."""
    names = {subject for kind, subject in approvals if kind == "asset"}
    for kind, subject in approvals:
        if kind == "unqualified_patch":
            names.update(subject[i + 1 :] for i, ch in enumerate(subject) if ch == "@")
    return names
