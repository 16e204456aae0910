"""Keep secrets out of reports: every free-text field goes through `ReportRedactor.text` before it lands in a
report model. Known secret values (e.g. the become password of a run) are added by the caller; common secret
shapes are always redacted."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from otorchestrator.store.redact import Redactor

EXCERPT_CHARS = 600

# shapes that are secrets whatever their value
DEFAULT_PATTERNS: tuple[str, ...] = (
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
    r"(?i)\b(ansible_(?:become_|ssh_)?pass(?:word)?|password|passwd|secret|token|api[_-]?key)"
    r"(\s*[=:]\s*|\"\s*:\s*\")[^\s\",']+",
    r"(?i)\bauthorization:\s*\S+(\s+\S+)?",
)


class ReportRedactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._redactor = Redactor(secrets=secrets, patterns=DEFAULT_PATTERNS)

    def text(self, value: Any, limit: int | None = None) -> str:
        """`value` as redacted text, cut to `limit` characters (with a marker) when given."""
        if value is None:
            return ""
        text = value if isinstance(value, str) else str(value)
        clean, _ = self._redactor.scrub(text)
        clean = str(clean)
        if limit is not None and len(clean) > limit:
            clean = clean[: limit - 1].rstrip() + "…"
        return clean

    def contains_secret(self, text: str) -> bool:
        return self._redactor.contains_secret(text)


def excerpt(lines: Iterable[str], redactor: ReportRedactor, limit: int = EXCERPT_CHARS) -> str:
    """Join non-empty lines, redact, and cut."""
    joined = "\n".join(line.strip() for line in lines if line and line.strip())
    return redactor.text(re.sub(r"\n{3,}", "\n\n", joined), limit)
