"""CSAF 2.0 reader: product tree (branches, full_product_names, relationships), statuses, fixes, scores.

One bad advisory is reported (file + JSON path) and skipped; a bad part of an advisory (one vulnerability,
one product node) is reported as a warning and the rest of the advisory is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otorchestrator.feeds.records import provenance_for
from otorchestrator.intake.errors import ImportProblem, IntakeError, Severity, describe, jpath
from otorchestrator.models.advisory import (
    Advisory,
    ProductRule,
    Remediation,
    RuleSource,
    Score,
    Vulnerability,
)

VERSION_CATEGORIES = ("product_version", "product_version_range")
AFFECTED_STATUSES = ("known_affected", "first_affected", "last_affected")
FIXED_STATUSES = ("fixed", "first_fixed")


@dataclass
class _Ctx:
    file: str
    problems: list[ImportProblem] = field(default_factory=list)

    def warn(self, path: str, expected: str, found: Any = None) -> None:
        self.problems.append(
            ImportProblem(
                file=self.file,
                path=path,
                expected=expected,
                found="" if found is None else describe(found),
                severity=Severity.WARNING,
            )
        )

    def fail(self, path: str, expected: str, found: Any = None) -> IntakeError:
        problem = ImportProblem(
            file=self.file, path=path, expected=expected, found="" if found is None else describe(found)
        )
        return IntakeError([problem])


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _list(ctx: _Ctx, node: dict[str, Any], key: str, path: str) -> list[Any]:
    value = node.get(key, [])
    if isinstance(value, list):
        return value
    ctx.warn(jpath(path, key), "a list", value)
    return []


# --- product tree -----------------------------------------------------------------------------------------


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


# --- vulnerabilities --------------------------------------------------------------------------------------


def _ids(ctx: _Ctx, node: dict[str, Any], key: str, path: str, known: set[str]) -> tuple[str, ...]:
    out = []
    for index, pid in enumerate(_list(ctx, node, key, path)):
        if not isinstance(pid, str) or pid not in known:
            ctx.warn(jpath(path, key, index), "a product_id defined in the product tree", pid)
            continue
        out.append(pid)
    return tuple(out)


def _status(ctx: _Ctx, vuln: dict[str, Any], path: str, known: set[str]) -> dict[str, tuple[str, ...]]:
    status = vuln.get("product_status", {})
    here = jpath(path, "product_status")
    if not isinstance(status, dict):
        ctx.warn(here, "an object", status)
        return {}
    return {key: _ids(ctx, status, key, here, known) for key in status}


def _remediations(ctx: _Ctx, vuln: dict[str, Any], path: str, known: set[str]) -> tuple[Remediation, ...]:
    out = []
    for index, rem in enumerate(_list(ctx, vuln, "remediations", path)):
        here = jpath(path, "remediations", index)
        if not isinstance(rem, dict) or _str(rem.get("category")) is None:
            ctx.warn(here, "a remediation with a `category`", rem)
            continue
        out.append(
            Remediation(
                category=rem["category"].strip(),
                details=_str(rem.get("details")) or "",
                product_ids=_ids(ctx, rem, "product_ids", here, known),
                url=_str(rem.get("url")),
            )
        )
    return tuple(out)


def _scores(ctx: _Ctx, vuln: dict[str, Any], path: str, known: set[str]) -> tuple[Score, ...]:
    out = []
    for index, entry in enumerate(_list(ctx, vuln, "scores", path)):
        here = jpath(path, "scores", index)
        cvss = entry.get("cvss_v3") if isinstance(entry, dict) else None
        if not isinstance(cvss, dict):
            if not (isinstance(entry, dict) and ("cvss_v2" in entry or "cvss_v4" in entry)):
                ctx.warn(jpath(here, "cvss_v3"), "a cvss_v3 object", cvss)
            continue
        base = cvss.get("baseScore")
        if not isinstance(base, int | float) or isinstance(base, bool) or not 0 <= base <= 10:
            ctx.warn(jpath(here, "cvss_v3", "baseScore"), "a number from 0 to 10", base)
            base = None
        vector = _str(cvss.get("vectorString"))
        if vector is not None and not vector.startswith("CVSS:3"):
            ctx.warn(jpath(here, "cvss_v3", "vectorString"), "a CVSS:3.x vector", vector)
            vector = None
        out.append(
            Score(
                version=str(cvss.get("version", "3")),
                base_score=float(base) if base is not None else None,
                vector=vector,
                severity=_str(cvss.get("baseSeverity")),
                products=_ids(ctx, entry, "products", here, known),
            )
        )
    return tuple(out)


def _exploitation_note(notes: Any) -> str | None:
    if not isinstance(notes, list):
        return None
    for note in notes:
        if isinstance(note, dict) and str(note.get("title", "")).lower().startswith("exploitab"):
            return _str(note.get("text"))
    return None


def _vulnerability(ctx: _Ctx, vuln: Any, path: str, known: set[str]) -> Vulnerability | None:
    if not isinstance(vuln, dict):
        ctx.warn(path, "a vulnerability object", vuln)
        return None
    cve = vuln.get("cve")
    if cve is not None and not (isinstance(cve, str) and cve.upper().startswith("CVE-")):
        ctx.warn(jpath(path, "cve"), "a CVE id like CVE-2021-1234", cve)
        cve = None
    status = _status(ctx, vuln, path, known)
    cwe_raw = vuln.get("cwe")
    cwe: dict[str, Any] = cwe_raw if isinstance(cwe_raw, dict) else {}
    return Vulnerability(
        cve=cve.strip().upper() if isinstance(cve, str) else None,
        title=_str(vuln.get("title")) or "",
        cwe_id=_str(cwe.get("id")),
        cwe_name=_str(cwe.get("name")),
        affected=tuple(pid for key in AFFECTED_STATUSES for pid in status.get(key, ())),
        fixed=tuple(pid for key in FIXED_STATUSES for pid in status.get(key, ())),
        not_affected=status.get("known_not_affected", ()),
        under_investigation=status.get("under_investigation", ()),
        remediations=_remediations(ctx, vuln, path, known),
        scores=_scores(ctx, vuln, path, known),
        exploitation_note=_exploitation_note(vuln.get("notes")),
    )


# --- documents --------------------------------------------------------------------------------------------


def parse_advisory(data: Any, file: str) -> tuple[Advisory, list[ImportProblem]]:
    """Interpret one CSAF document. Raises IntakeError when it is not usable at all."""
    ctx = _Ctx(file)
    if not isinstance(data, dict):
        raise ctx.fail("$", "a CSAF document object", data)
    doc = data.get("document")
    if not isinstance(doc, dict):
        raise ctx.fail("$.document", "an object", doc)
    tracking = doc.get("tracking")
    adv_id = _str(tracking.get("id")) if isinstance(tracking, dict) else None
    if adv_id is None:
        raise ctx.fail("$.document.tracking.id", "a string", tracking)
    version = str(doc.get("csaf_version", ""))
    if not version.startswith("2."):
        ctx.warn("$.document.csaf_version", "2.0", doc.get("csaf_version"))
    rules = _product_tree(ctx, data.get("product_tree"))
    known = {r.product_id for r in rules}
    vulns_raw = data.get("vulnerabilities", [])
    if not isinstance(vulns_raw, list):
        raise ctx.fail("$.vulnerabilities", "a list", vulns_raw)
    vulns = []
    for index, raw in enumerate(vulns_raw):
        vuln = _vulnerability(ctx, raw, jpath("$.vulnerabilities", index), known)
        if vuln is not None:
            vulns.append(vuln)
    publisher = doc.get("publisher")
    advisory = Advisory(
        id=adv_id,
        title=_str(doc.get("title")) or "",
        publisher=(_str(publisher.get("name")) or "") if isinstance(publisher, dict) else "",
        release_date=_str(tracking.get("current_release_date")) if isinstance(tracking, dict) else None,
        source=file,
        exploitation_note=_exploitation_note(doc.get("notes")),
        products=tuple(rules),
        vulnerabilities=tuple(vulns),
    )
    return advisory, ctx.problems


def read_advisory(path: Path, name: str | None = None) -> tuple[Advisory, list[ImportProblem]]:
    """One CSAF file. `name` is how the advisory and its problems name the file (default: the path as
    given); `load_advisories` passes the path relative to the --advisories root, so a plan does not depend
    on the directory it was made from."""
    file = str(path) if name is None else name
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise IntakeError(
            [
                ImportProblem(
                    file=file,
                    path="$",
                    expected="valid JSON",
                    found=f"{exc.msg} at line {exc.lineno} column {exc.colno}",
                )
            ]
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise IntakeError(
            [ImportProblem(file=file, path="$", expected="a readable file", found=str(exc))]
        ) from exc
    advisory, problems = parse_advisory(data, file)
    provenance = provenance_for(path, raw, file)  # None unless read from a feed store (otorch feeds sync)
    if provenance is not None:
        advisory = advisory.model_copy(update={"provenance": provenance})
    return advisory, problems


def advisory_sources(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """(file, name) for each file named directly (name: its file name) and each *.json under a named
    directory (name: its path relative to that directory, with `/`), in a stable order. The names do not
    depend on the working directory or on how the paths were typed."""
    out: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            out.extend((f, f.relative_to(path).as_posix()) for f in sorted(path.rglob("*.json")))
        else:
            out.append((path, path.name))
    return out


def advisory_files(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus every *.json under named directories, in a stable order."""
    return [path for path, _ in advisory_sources(paths)]


def load_advisories(paths: Iterable[Path]) -> tuple[tuple[Advisory, ...], tuple[ImportProblem, ...]]:
    """Read every advisory; a broken one is reported and skipped, never aborting the import. Advisories and
    problems name each file as `advisory_sources` does."""
    advisories: list[Advisory] = []
    problems: list[ImportProblem] = []
    for path, name in advisory_sources(paths):
        try:
            advisory, found = read_advisory(path, name)
        except IntakeError as exc:
            problems.extend(exc.problems)
            continue
        except Exception as exc:  # a reader bug must not abort the import either: report it
            problems.append(
                ImportProblem(file=name, path="$", expected="a readable advisory", found=repr(exc))
            )
            continue
        advisories.append(advisory)
        problems.extend(found)
    return tuple(advisories), tuple(problems)
