"""Pure checks that a plan and a wave plan say what their authorities say.

staged_from(plan, waveplan)        the wave plan was staged from this plan (hash, items, patches)
qualification(plan, catalog, ...)  every deployable item's patch is qualified per the catalog, or has
                                   an unqualified-patch override
"""

from __future__ import annotations

from collections.abc import Callable

from otorchestrator.models.catalog import Catalog, Qualification
from otorchestrator.models.plan import Plan
from otorchestrator.models.waves import WavePlan

_PATCH_FIELDS = ("vendor", "product", "package", "target_version", "sha256", "artifact", "qualification")


def staged_from(plan: Plan, waveplan: WavePlan) -> list[str]:
    """Why `waveplan` was not staged from `plan` (empty: it was)."""
    if not plan.content_hash or plan.compute_hash() != plan.content_hash:
        return [f"the plan's content does not match its content_hash {plan.content_hash or '(none)'}"]
    if plan.content_hash != waveplan.plan_hash:
        return [
            f"the wave plan was staged from plan {waveplan.plan_hash}, not from this plan {plan.content_hash}"
        ]
    problems: list[str] = []
    items = {(i.asset, i.patch_id): i for i in plan.items}
    for wave in waveplan.waves:
        for host in wave.hosts:
            for item in host.items:
                planned = items.get((host.name, item.patch_id))
                if planned is None:
                    problems.append(f"{host.name}: {item.patch_id} is not an item of the plan for this host")
                elif (
                    planned.decision is not item.decision
                    or planned.decision not in waveplan.policy.include_decisions
                ):
                    problems.append(
                        f"{host.name}: {item.patch_id} is {planned.decision.value} in the plan, "
                        f"{item.decision.value} in the wave plan (policy includes "
                        f"{', '.join(d.value for d in waveplan.policy.include_decisions)})"
                    )
    plan_patches = plan.patch_map()
    for patch in waveplan.patches:
        original = plan_patches.get(patch.id)
        if original is None:
            problems.append(f"patch {patch.id} is not in the plan")
            continue
        for field in _PATCH_FIELDS:
            if getattr(original, field) != getattr(patch, field):
                problems.append(
                    f"patch {patch.id}: {field} is {getattr(patch, field)!r} in the wave plan, "
                    f"{getattr(original, field)!r} in the plan"
                )
    plan_assets = plan.asset_map()
    for asset in waveplan.assets:
        if plan_assets.get(asset.name) != asset:
            problems.append(f"asset {asset.name}: differs from (or is missing in) the plan")
    return problems


def qualification(
    plan: Plan, catalog: Catalog | None, override_ok: Callable[[str, str], str | None]
) -> list[str]:
    """Every deployable item whose patch is not qualified per the catalog (the plan's own copy
    can be edited) needs an override; `override_ok(asset, patch_id)` says why one is missing (None: ok)."""
    if catalog is None:  # no authoritative source: the plan's own copy proves nothing either way
        return []
    current = catalog.by_id()
    embedded = plan.patch_map()
    problems: list[str] = []
    for item in plan.items:
        if not item.decision.deployable:
            continue
        patch = current.get(item.patch_id) or embedded.get(item.patch_id)
        if item.patch_id not in current:
            problems.append(f"{item.asset}: patch {item.patch_id} is not in the catalog {catalog.source}")
            continue
        if patch is None or patch.qualification is Qualification.QUALIFIED:
            continue
        missing = override_ok(item.asset, item.patch_id)
        if missing is not None:
            problems.append(
                f"{item.asset}: patch {item.patch_id} is {patch.qualification.value} in the catalog and "
                f"the plan schedules it {item.decision.value}: {missing}"
            )
    return problems
