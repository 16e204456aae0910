"""Every name an exemption or approval gives must exist: a host, group or patch that is not in the
inventory or catalog is an error with file:line, the field and a did-you-mean (a typo would otherwise void
the exemption or approval silently)."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from typing import Any

from otorchestrator.intake.errors import ImportProblem, jpath
from otorchestrator.intake.yamlfile import Lines, at_line

_EXEMPTION_FIELDS = {"assets": "host", "asset": "host", "groups": "group", "group": "group"}
_PATCH_FIELDS = ("patches", "patch")


def did_you_mean(value: str, known: Collection[str]) -> str:
    """The closest known name (difflib ratio at least 0.6; on a tie the first in sorted order)."""
    if not known:
        return ""
    matcher = difflib.SequenceMatcher(b=value)

    def score(name: str) -> float:
        matcher.set_seq1(name)
        return matcher.ratio()

    best = max(sorted(known), key=score)
    return f"; did you mean {best!r}?" if score(best) >= 0.6 else ""


def _unknown(
    file: str, lines: Lines, where: tuple[str | int, ...], what: str, value: Any, known: Collection[str]
) -> ImportProblem | None:
    if isinstance(value, str) and value in known:
        return None
    text = str(value)
    return ImportProblem(
        file=at_line(file, lines, *where),
        path=jpath("$", *where),
        expected=f"a {what} of the {'catalog' if what == 'patch' else 'inventory'}",
        found=f"{text!r}, which does not exist{did_you_mean(text, known)}",
    )


def _values(raw: dict[str, Any], key: str) -> list[tuple[tuple[str | int, ...], Any]]:
    value = raw.get(key)
    if isinstance(value, list):
        return [((key, n), v) for n, v in enumerate(value)]
    return [((key,), value)] if value is not None else []


def exemption_references(
    data: Any,
    file: str,
    lines: Lines,
    hosts: Collection[str],
    groups: Collection[str],
    patches: Collection[str],
) -> list[ImportProblem]:
    top: tuple[str | int, ...] = ("exemptions",) if isinstance(data, dict) else ()
    items = data.get("exemptions") if isinstance(data, dict) else data
    problems: list[ImportProblem] = []
    for index, raw in enumerate(items if isinstance(items, list) else []):
        if not isinstance(raw, dict):
            continue
        for key, what in (*_EXEMPTION_FIELDS.items(), *((k, "patch") for k in _PATCH_FIELDS)):
            known = {"host": hosts, "group": groups, "patch": patches}[what]
            for where, value in _values(raw, key):
                found = _unknown(file, lines, (*top, index, *where), what, value, known)
                if found is not None:
                    problems.append(found)
    return problems


def approval_references(
    data: Any, file: str, lines: Lines, hosts: Collection[str], patches: Collection[str]
) -> list[ImportProblem]:
    """`subject` of kind asset or drill names a host; of kind unqualified_patch a catalog patch, or
    PATCH@HOST for one host."""
    top: tuple[str | int, ...] = ("approvals",) if isinstance(data, dict) else ()
    items = data.get("approvals") if isinstance(data, dict) else data
    problems: list[ImportProblem] = []
    for index, raw in enumerate(items if isinstance(items, list) else []):
        if not isinstance(raw, dict) or "subject" not in raw:
            continue
        kind = raw.get("kind")
        if kind in ("asset", "drill"):
            what, known = "host", hosts
        elif kind == "unqualified_patch":
            what, known = "patch", patches
        else:
            continue  # an unknown kind is reported by the approvals parser
        where = (*top, index, "subject")
        subject = raw["subject"]
        if what == "patch" and isinstance(subject, str) and "@" in subject:  # PATCH@HOST: one host only
            patch, _, host = subject.partition("@")
            checks = [("patch", patch, patches), ("host", host, hosts)]
        else:
            checks = [(what, subject, known)]
        for kind_of, value, names in checks:
            found = _unknown(file, lines, where, kind_of, value, names)
            if found is not None:
                problems.append(found)
    return problems
