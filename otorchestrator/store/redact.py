"""Keep secrets out of the audit trail: registered secret strings and patterns are redacted or refused."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "***REDACTED***"


class Redactor:
    """Secrets are exact strings (e.g. a become password) or regexes (e.g. `password=\\S+`).

    `scrub` replaces every occurrence in strings (values and keys, at any depth). With `refuse=True` the
    audit log raises `SecretInAudit` instead of writing a redacted event.
    """

    def __init__(
        self,
        secrets: Iterable[str] = (),
        patterns: Iterable[str | re.Pattern[str]] = (),
        *,
        refuse: bool = False,
    ) -> None:
        self._secrets: set[str] = set()
        self._patterns: list[re.Pattern[str]] = []
        self.refuse = refuse
        for secret in secrets:
            self.add_secret(secret)
        for pattern in patterns:
            self.add_pattern(pattern)

    def add_secret(self, secret: str) -> None:
        if secret:
            self._secrets.add(secret)

    def add_pattern(self, pattern: str | re.Pattern[str]) -> None:
        self._patterns.append(re.compile(pattern) if isinstance(pattern, str) else pattern)

    def __bool__(self) -> bool:
        return bool(self._secrets or self._patterns)

    def contains_secret(self, text: str) -> bool:
        return any(s in text for s in self._secrets) or any(p.search(text) for p in self._patterns)

    def _scrub_text(self, text: str) -> tuple[str, int]:
        hits = 0
        # longest first, so a secret that contains another is replaced whole
        for secret in sorted(self._secrets, key=len, reverse=True):
            count = text.count(secret)
            if count:
                hits += count
                text = text.replace(secret, REDACTED)
        for pattern in self._patterns:
            text, count = pattern.subn(REDACTED, text)
            hits += count
        return text, hits

    def scrub(self, value: Any) -> tuple[Any, list[str]]:
        """The value with secrets replaced, and the paths (e.g. `detail.cmd`) where they were found."""
        found: list[str] = []
        return self._walk(value, "", found), found

    def _walk(self, value: Any, where: str, found: list[str]) -> Any:
        if isinstance(value, str):
            clean, hits = self._scrub_text(value)
            if hits:
                found.append(where or "(value)")
            return clean
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                path = f"{where}.{key}" if where else str(key)
                new_key = key
                if isinstance(key, str):
                    new_key, hits = self._scrub_text(key)
                    if hits:
                        found.append(f"{where}.<key>" if where else "<key>")
                out[new_key] = self._walk(item, path, found)
            return out
        if isinstance(value, list | tuple):
            return [self._walk(item, f"{where}[{i}]", found) for i, item in enumerate(value)]
        return value
