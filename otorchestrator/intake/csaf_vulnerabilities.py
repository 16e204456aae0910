"""A CSAF 2.0 vulnerability -> its product statuses, remediations, CVSS v3 scores and exploitation note.
A bad vulnerability (or a bad part of one) is a warning; the rest of the advisory is kept."""

from __future__ import annotations

from typing import Any

from otorchestrator.intake.csaf_context import _Ctx, _list, _str
from otorchestrator.intake.errors import jpath
from otorchestrator.models.advisory import Remediation, Score, Vulnerability

AFFECTED_STATUSES = ("known_affected", "first_affected", "last_affected")
FIXED_STATUSES = ("fixed", "first_fixed")


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
