"""`otorch feeds sync` for the KEV catalog: fetch (same mirror rules), check the shape with the planner's own
reader (intake/kev.py), store atomically with its sha256 and the time fetched. KEV is not signed: the record
says so, and a file of the wrong shape never replaces the stored one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from otorchestrator.feeds.config import KevConfig, map_address
from otorchestrator.feeds.store import atomic_write
from otorchestrator.feeds.transport import Fetch, FetchError
from otorchestrator.intake.errors import IntakeError
from otorchestrator.intake.kev import parse_kev

KEV_FILE = "known_exploited_vulnerabilities.json"


@dataclass(frozen=True)
class KevSync:
    location: str
    fetched_from: str
    stored: bool  # False: refused or unchanged (see `refused`)
    sha256: str = ""
    entries: int = 0
    new_entries: tuple[str, ...] = ()
    refused: str = ""


def kev_paths(state_root: Path) -> tuple[Path, Path]:
    directory = state_root / "feeds" / "kev"
    return directory / KEV_FILE, directory / (KEV_FILE + ".provenance")


def sync_kev(
    config: KevConfig, mirrors: dict[str, str], state_root: Path, fetch: Fetch, now: Callable[[], datetime]
) -> KevSync:
    source = map_address(config.location, {**mirrors, **config.mirrors})
    try:
        data = fetch(source)
    except FetchError as exc:
        return KevSync(config.location, source, False, refused=str(exc))
    try:
        body: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return KevSync(config.location, source, False, refused=f"not JSON: {exc}")
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("vulnerabilities"), list)
        or "catalogVersion" not in body
    ):
        return KevSync(
            config.location,
            source,
            False,
            refused="not a KEV catalog: expected an object with catalogVersion and a vulnerabilities list",
        )
    try:
        catalog, problems = parse_kev(body, KEV_FILE)
    except IntakeError as exc:
        return KevSync(config.location, source, False, refused=f"not a KEV catalog: {exc}")
    if problems:
        return KevSync(
            config.location, source, False, refused=f"{len(problems)} bad entr(ies), first: {problems[0]}"
        )
    document, record = kev_paths(state_root)
    before = _cves(document)
    sha256 = hashlib.sha256(data).hexdigest()
    cves = {e.cve for e in catalog.entries}
    atomic_write(document, data)
    atomic_write(
        record,
        (
            json.dumps(
                {
                    "location": config.location,
                    "fetched_from": source,
                    "sha256": sha256,
                    "catalogVersion": catalog.version,
                    "entries": len(cves),
                    "fetched_at": now().isoformat().replace("+00:00", "Z"),
                    "signature": "none (KEV is not signed)",
                },
                indent=1,
                sort_keys=True,
            )
            + "\n"
        ).encode(),
    )
    return KevSync(
        config.location,
        source,
        True,
        sha256,
        len(cves),
        tuple(sorted(cves - before)) if before is not None else (),
    )


def _cves(document: Path) -> set[str] | None:
    try:
        catalog, _ = parse_kev(json.loads(document.read_bytes()), KEV_FILE)
    except (OSError, ValueError, IntakeError):
        return None
    return {e.cve for e in catalog.entries}
