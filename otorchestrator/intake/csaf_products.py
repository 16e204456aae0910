"""A CSAF 2.0 product tree -> product rules: branches (vendor / product / version scopes), full_product_names
(with their CPE), relationships (a component in a context). A bad product node is a warning; the rest is
kept."""

from __future__ import annotations

from typing import Any

from otorchestrator.intake.csaf_context import _Ctx, _list, _str
from otorchestrator.intake.errors import jpath
from otorchestrator.models.advisory import ProductRule, RuleSource

VERSION_CATEGORIES = ("product_version", "product_version_range")


def _walk_branches(
    ctx: _Ctx, branches: list[Any], path: str, names: dict[str, str], out: list[ProductRule]
) -> None:
    for index, branch in enumerate(branches):
        here = jpath(path, index)
        if not isinstance(branch, dict):
            ctx.warn(here, "a branch object", branch)
            continue
        category, name = _str(branch.get("category")), _str(branch.get("name"))
        if category is None or name is None:
            ctx.warn(here, "a branch with `category` and `name`", branch.get("category"))
            continue
        scope = dict(names)
        scope[category] = name
        product = branch.get("product")
        if product is not None:
            _branch_product(ctx, product, jpath(here, "product"), scope, out)
        if "branches" in branch:
            _walk_branches(ctx, _list(ctx, branch, "branches", here), jpath(here, "branches"), scope, out)


def _branch_product(
    ctx: _Ctx, product: Any, path: str, scope: dict[str, str], out: list[ProductRule]
) -> None:
    pid = _str(product.get("product_id")) if isinstance(product, dict) else None
    if pid is None:
        ctx.warn(jpath(path, "product_id"), "a product_id string", product)
        return
    full_name = _str(product.get("name")) or ""
    product_name = scope.get("product_name") or scope.get("product_family") or full_name
    version_category = next((c for c in VERSION_CATEGORIES if c in scope), "none")
    out.append(
        ProductRule(
            product_id=pid,
            vendor=scope.get("vendor"),
            product=product_name,
            version=scope.get(version_category) if version_category != "none" else None,
            version_category=version_category,
            source=RuleSource.BRANCH,
            path=path,
            full_name=full_name,
        )
    )


def _from_cpe(cpe: str) -> tuple[str | None, str | None, str | None]:
    """vendor, product, version from a CPE 2.3 string (`*`/`-` mean unspecified)."""
    parts = cpe.split(":")
    if len(parts) < 6 or parts[0] != "cpe":
        return None, None, None

    def clean(value: str) -> str | None:
        return None if value in ("*", "-", "") else value.replace("_", " ").replace("\\", "")

    return clean(parts[3]), clean(parts[4]), clean(parts[5])


def _full_product_name(ctx: _Ctx, node: Any, path: str, source: RuleSource) -> ProductRule | None:
    if not isinstance(node, dict):
        ctx.warn(path, "a full_product_name object", node)
        return None
    pid, name = _str(node.get("product_id")), _str(node.get("name"))
    if pid is None or name is None:
        ctx.warn(path, "`name` and `product_id` strings", node)
        return None
    vendor = product = version = None
    helper = node.get("product_identification_helper")
    if isinstance(helper, dict) and isinstance(helper.get("cpe"), str):
        vendor, product, version = _from_cpe(helper["cpe"])
    return ProductRule(
        product_id=pid,
        vendor=vendor,
        product=product or name,
        version=version,
        version_category="product_version" if version else "none",
        source=source,
        path=path,
        full_name=name,
    )


def _product_tree(ctx: _Ctx, tree: Any) -> list[ProductRule]:
    if not isinstance(tree, dict):
        raise ctx.fail("$.product_tree", "an object", tree)
    rules: list[ProductRule] = []
    _walk_branches(ctx, _list(ctx, tree, "branches", "$.product_tree"), "$.product_tree.branches", {}, rules)
    for index, node in enumerate(_list(ctx, tree, "full_product_names", "$.product_tree")):
        rule = _full_product_name(
            ctx, node, jpath("$.product_tree.full_product_names", index), RuleSource.FULL_PRODUCT_NAME
        )
        if rule is not None:
            rules.append(rule)
    known = {r.product_id: r for r in rules}
    for index, rel in enumerate(_list(ctx, tree, "relationships", "$.product_tree")):
        here = jpath("$.product_tree.relationships", index)
        rule = _relationship(ctx, rel, here, known)
        if rule is not None:
            rules.append(rule)
            known[rule.product_id] = rule
    return rules


def _relationship(ctx: _Ctx, rel: Any, path: str, known: dict[str, ProductRule]) -> ProductRule | None:
    """A relationship's product is its `product_reference` (the component) in a context: match on that."""
    if not isinstance(rel, dict):
        ctx.warn(path, "a relationship object", rel)
        return None
    ref, other = _str(rel.get("product_reference")), _str(rel.get("relates_to_product_reference"))
    fpn = rel.get("full_product_name")
    pid = _str(fpn.get("product_id")) if isinstance(fpn, dict) else None
    if ref is None or pid is None:
        ctx.warn(path, "`product_reference` and `full_product_name.product_id`", rel)
        return None
    base = known.get(ref)
    if base is None:
        ctx.warn(jpath(path, "product_reference"), "a product_id defined in the product tree", ref)
        return None
    name = _str(fpn.get("name")) if isinstance(fpn, dict) else None
    return base.model_copy(
        update={
            "product_id": pid,
            "source": RuleSource.RELATIONSHIP,
            "path": path,
            "full_name": name or base.full_name,
            "note": f"{rel.get('category', 'relationship')} {other}" if other else "",
        }
    )
