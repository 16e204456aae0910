"""Before `otorch waves` stages a plan: the plan's signature (when the site has a trust file), every
deployable item's qualification re-derived from the catalog (a plan edited from blocked to scheduled
with its hash recomputed is refused), and, with a trust file, approvals only from signed files (the
plan's or the policy's unsigned asset approvals are refused; trust/stage_approvals.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.models.catalog import Catalog
from otorchestrator.models.plan import Plan
from otorchestrator.models.policy import WavePolicy
from otorchestrator.trust.approvals import Need, judge, read_approvals
from otorchestrator.trust.signed import Kind, verify_file
from otorchestrator.trust.sshsig import SshSigError
from otorchestrator.trust.stage_approvals import (
    SignedStaging,
    UnsignedApprovals,
    signed_staging,
    unsigned_asset_approvals,
)
from otorchestrator.trust.staging import qualification
from otorchestrator.trust.trustfile import ApprovalKind, SiteTrust, TrustError, TwoApprovers, find_trust


def _catalog(inventory: str | None) -> Catalog | None:
    if not inventory:
        return None
    base = Path(inventory)
    path = (base if base.is_dir() else base.parent) / "catalog.yml"
    return load_catalog_strict(path) if path.is_file() else None


@dataclass(frozen=True)
class Gate:
    """The verdict on staging a plan: `problems` (empty: it may be staged), the policy to stage with (its
    approvals from signed files when a trust file is in force) and, then, which file admitted which host."""

    problems: list[str]
    policy: WavePolicy
    trust: SiteTrust | None = None
    signed: SignedStaging | None = None


def staging_gate(
    plan: Plan,
    plan_file: Path,
    policy: WavePolicy,
    policy_file: Path | None,
    inventory: str | None,
    now: datetime,
    trust_file: Path | None = None,
    approvals_dir: Path | None = None,
) -> Gate:
    """Whether `plan` may be staged with `policy`, and the policy to stage it with."""
    try:
        trust = find_trust(trust_file)
        catalog = _catalog(inventory)
    except (TrustError, ValueError) as exc:
        return Gate([str(exc)], policy)
    problems = staging_problems(plan, plan_file, catalog, trust, approvals_dir)
    if trust is None:
        return Gate(problems, policy)
    for approvals, where in ((plan.approvals, plan_file), (policy.approvals, policy_file)):
        try:
            unsigned_asset_approvals(approvals, where or "the built-in policy", trust)
        except UnsignedApprovals as exc:
            problems.append(str(exc))
    signed = signed_staging(plan, policy, trust, approvals_dir, now)
    return Gate(problems, signed.policy, trust, signed)


def staging_problems(
    plan: Plan,
    plan_file: Path,
    catalog: Catalog | None,
    trust: SiteTrust | None,
    approvals_dir: Path | None = None,
) -> list[str]:
    """Why `plan` must not be staged (empty: it may): its signature, its items' qualification."""
    problems: list[str] = []
    if trust is not None:
        try:
            verify_file(plan_file, trust, Kind.PLAN)
        except SshSigError as exc:
            problems.append(f"{exc} (the trust file {trust.path} requires signed plans)")
    items = {(i.asset, i.patch_id): i for i in plan.items}
    assets = plan.asset_map()
    signed = read_approvals(approvals_dir or trust.approvals_dir, trust)[0] if trust is not None else ()

    def override_ok(asset: str, patch_id: str) -> str | None:
        if trust is None:
            return None if items[(asset, patch_id)].override is not None else "no override recorded"
        a = assets.get(asset)
        if a is None:
            return "the plan embeds no such asset"
        two = TwoApprovers.UNQUALIFIED_PATCH in trust.spec.two_approvers
        need = Need(ApprovalKind.UNQUALIFIED_PATCH, asset, a.site, a.zone, a.safety_system, (patch_id,), two)
        return judge(need, signed, trust, "", plan.content_hash, plan.created_at)

    problems += qualification(plan, catalog, override_ok)
    return problems
