"""Sentences for the reports, built from results: each with its values, none repeated (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from otorchestrator.models.results import Check


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return str(value).strip()


def _mentions(text: str, value: str) -> bool:
    """Whether `value` stands in `text` as a word of its own ("0" is not in "needs 20 MiB")."""
    return re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", text) is not None


def check_sentence(check: Check) -> str:
    """ "disk_free:/opt/nwc: 1 MiB free on /opt/nwc (needs 20 MiB)": name, value, detail, threshold; the
    value is put in front of a detail that does not carry it, the threshold added when the detail lacks it."""
    value, threshold, detail = _text(check.value), _text(check.threshold), check.detail.strip()
    parts: list[str] = []
    if value and not _mentions(detail, value):
        parts.append(value)
    if detail:
        parts.append(detail)
    text = " ".join(parts)
    if threshold and not _mentions(text, threshold):
        text += f" (expected {threshold})" if text else f"expected {threshold}"
    return f"{check.name}: {text}" if text else check.name


def unique(parts: Iterable[str]) -> list[str]:
    """Non-blank parts in order, each once; a part contained in an earlier one (or containing it, which
    then replaces it) is dropped: no "diagnostics failed: diagnostics failed"."""
    out: list[str] = []
    for part in (p.strip().rstrip(";").strip() for p in parts):
        if not part:
            continue
        if any(part in seen for seen in out):
            continue
        out = [seen for seen in out if seen not in part]
        out.append(part)
    return out


def join_reasons(*parts: str) -> str:
    return "; ".join(unique(parts))
