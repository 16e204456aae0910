"""What a provider lists: a ROLIE feed (entries with self/signature/hash links and `updated`) or
`changes.csv` (`path,timestamp`, newest first) with `index.txt`. Pure: text in, entries out."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*\.json$")


class ListingError(Exception):
    """The listing itself is unusable: nothing can be synced from it."""


@dataclass(frozen=True)
class Listed:
    name: str  # path below the feed's directory, e.g. 2022/icsa-22-006-01.json (the stored name)
    url: str  # the publisher's address of the document
    signature_url: str
    hash_url: str
    updated: str  # the listing's timestamp for this revision ("" when the listing gives none)


@dataclass(frozen=True)
class Skipped:
    entry: str
    reason: str


def stored_name(url: str, root: str) -> str | None:
    """`url` relative to the feed's directory `root`, when it is a plain path below it ending in .json."""
    if not url.startswith(root):
        return None
    name = url[len(root) :]
    if not SAFE_NAME.match(name) or any(part in (".", "..") for part in name.split("/")):
        return None
    return name


def _entry(url: str, root: str, updated: str, sig: str = "", hsh: str = "") -> Listed | Skipped:
    name = stored_name(url, root)
    if name is None:
        return Skipped(url, f"not a .json path below the feed's directory {root}")
    return Listed(name, url, sig or url + ".asc", hsh or url + ".sha512", updated)


def from_rolie(data: bytes, root: str) -> tuple[list[Listed], list[Skipped]]:
    try:
        body: Any = json.loads(data)
        entries = body["feed"]["entry"]
        if not isinstance(entries, list):
            raise TypeError("feed.entry is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise ListingError(f"not a ROLIE feed ($.feed.entry): {exc}") from exc
    listed: list[Listed] = []
    skipped: list[Skipped] = []
    for index, entry in enumerate(entries):
        links: dict[str, str] = {
            str(link.get("rel")): str(link.get("href"))
            for link in (entry.get("link") or [] if isinstance(entry, dict) else [])
            if isinstance(link, dict) and isinstance(link.get("href"), str)
        }
        url = (
            links.get("self") or (entry.get("content") or {}).get("src") if isinstance(entry, dict) else None
        )
        if not isinstance(url, str):
            skipped.append(Skipped(f"$.feed.entry[{index}]", "no self link"))
            continue
        got = _entry(
            url, root, str(entry.get("updated", "")), links.get("signature", ""), links.get("hash", "")
        )
        (listed if isinstance(got, Listed) else skipped).append(got)  # type: ignore[arg-type]
    return _unique(listed, skipped)


def from_changes(
    changes: bytes, index: bytes | None, base: str, root: str
) -> tuple[list[Listed], list[Skipped]]:
    """changes.csv (and index.txt for documents changes.csv does not date); entries relative to `base`."""
    try:
        text = changes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ListingError(f"changes.csv is not UTF-8 text: {exc}") from exc
    listed: list[Listed] = []
    skipped: list[Skipped] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        if len(row) != 2:
            skipped.append(Skipped(f"changes.csv line {number}", "expected `path,timestamp`"))
            continue
        got = _entry(base + row[0].strip(), root, row[1].strip())
        (listed if isinstance(got, Listed) else skipped).append(got)  # type: ignore[arg-type]
    dated = {entry.url for entry in listed}
    for line in (index or b"").decode("utf-8", "replace").splitlines():
        if line.strip() and base + line.strip() not in dated:
            got = _entry(base + line.strip(), root, "")
            (listed if isinstance(got, Listed) else skipped).append(got)  # type: ignore[arg-type]
    return _unique(listed, skipped)


def _unique(listed: list[Listed], skipped: list[Skipped]) -> tuple[list[Listed], list[Skipped]]:
    """One entry per document: the first (newest) the listing gives."""
    seen: dict[str, Listed] = {}
    for entry in listed:
        seen.setdefault(entry.name, entry)
    return sorted(seen.values(), key=lambda e: e.name), skipped
