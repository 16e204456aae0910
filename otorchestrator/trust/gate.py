"""Before `otorch waves` stages a plan: the plan's signature (when the site has a trust file) and every
deployable item's qualification re-derived from the catalog (a plan edited from blocked to scheduled
with its hash recomputed is refused)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.models.catalog import Catalog
from otorchestrator.models.plan import Plan
from otorchestrator.trust.approvals import Need, judge, read_approvals
from otorchestrator.trust.signed import Kind, verify_file
from otorchestrator.trust.sshsig import SshSigError
from otorchestrator.trust.staging import qualification
from otorchestrator.trust.trustfile import ApprovalKind, TrustError, TwoApprovers, find_trust


def _catalog(inventory: str | None) -> Catalog | None:
    if not inventory:
        return None
    base = Path(inventory)
    path = (base if base.is_dir() else base.parent) / "catalog.yml"
    return load_catalog_strict(path) if path.is_file() else None


def staging_problems(
    plan: Plan, plan_file: Path, inventory: str | None, env: Mapping[str, str] | None = None
) -> list[str]:
    """Why `plan` must not be staged (empty: it may)."""
    try:
        trust = find_trust(None, env)
        catalog = _catalog(inventory)
    except (TrustError, ValueError) as exc:
        return [str(exc)]
    problems: list[str] = []
    if trust is not None:
        try:
            verify_file(plan_file, trust, Kind.PLAN)
        except SshSigError as exc:
            problems.append(f"{exc} (the trust file {trust.path} requires signed plans)")
    items = {(i.asset, i.patch_id): i for i in plan.items}
    assets = plan.asset_map()
    signed = read_approvals(trust.approvals_dir, trust)[0] if trust is not None else ()

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
