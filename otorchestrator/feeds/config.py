"""The site's feeds file: which CSAF providers and which KEV location to follow, through which mirror, and
which OpenPGP keys are trusted for each publisher (a key file per feed, fingerprints pinned).

    mirrors:                       # site-wide: publisher address prefix -> internal mirror URL or directory
      "https://raw.githubusercontent.com/cisagov/CSAF/develop/": "http://mirror.plant.local/cisa/"
    feeds:
      - name: cisa-ot
        kind: index                # index (index.txt + changes.csv) | rolie (a ROLIE feed JSON)
        location: https://raw.githubusercontent.com/cisagov/CSAF/develop/csaf_files/OT/white/
        index_base: https://raw.githubusercontent.com/cisagov/CSAF/develop/
        key_file: keys/cisa.asc    # relative to this file
        fingerprints: [0123456789ABCDEF0123456789ABCDEF01234567]
    kev:
      location: https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from otorchestrator.intake.errors import ImportProblem, IntakeError, problems_from_validation
from otorchestrator.intake.yamlfile import read_data

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
FINGERPRINT = re.compile(r"^[0-9A-F]{40}$|^[0-9A-F]{64}$")
FEEDS_FILE = "feeds.yml"


class FeedConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Literal["index", "rolie"]
    location: str  # publisher address: the directory of index.txt/changes.csv, or the ROLIE feed JSON
    index_base: str = ""  # what index.txt/changes.csv entries are relative to (default: `location`)
    key_file: str
    fingerprints: tuple[str, ...] = Field(min_length=1)
    mirrors: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("a lower-case name of letters, digits, '.', '_' or '-' (e.g. cisa-ot)")
        return value

    @field_validator("fingerprints")
    @classmethod
    def _fingerprints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(v.replace(" ", "").upper() for v in value)
        for fp in out:
            if not FINGERPRINT.match(fp):
                raise ValueError(f"a full OpenPGP fingerprint (40 or 64 hex digits), not {fp!r}")
        return out

    @property
    def document_root(self) -> str:
        """Stored names are publisher addresses relative to this directory (the feed's own directory)."""
        if self.kind == "rolie":
            return self.location.rsplit("/", 1)[0] + "/"
        return _dir(self.location)


class KevConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    location: str
    mirrors: dict[str, str] = Field(default_factory=dict)


class SiteFeeds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mirrors: dict[str, str] = Field(default_factory=dict)
    feeds: tuple[FeedConfig, ...] = ()
    kev: KevConfig | None = None
    base: str = Field(default="", exclude=True)  # directory of the file: key_file paths are relative to it

    def feed(self, name: str) -> FeedConfig:
        names = [f.name for f in self.feeds]
        for candidate in self.feeds:
            if candidate.name == name:
                return candidate
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (configured: {', '.join(names) or 'none'})"
        raise KeyError(f"no feed named {name!r}{hint}")

    def key_path(self, feed: FeedConfig) -> Path:
        path = Path(feed.key_file)
        return path if path.is_absolute() else Path(self.base) / path

    def mapping(self, own: dict[str, str]) -> dict[str, str]:
        return {**self.mirrors, **own}


def _dir(address: str) -> str:
    return address if address.endswith("/") else address + "/"


def map_address(address: str, mirrors: dict[str, str]) -> str:
    """Where to read `address` from: the longest matching publisher prefix replaced by its mirror."""
    best = max((p for p in mirrors if address.startswith(p)), key=len, default=None)
    return address if best is None else mirrors[best] + address[len(best) :]


def load_feeds(path: Path) -> SiteFeeds:
    """The feeds file at `path` (an empty configuration when it does not exist). Raises IntakeError."""
    if not path.exists():
        return SiteFeeds(base=str(path.parent))
    data: Any = read_data(path) or {}
    if not isinstance(data, dict):
        raise IntakeError(
            [ImportProblem(file=str(path), path="$", expected="a mapping", found=type(data).__name__)]
        )
    try:
        return SiteFeeds.model_validate({**data, "base": str(path.parent)})
    except ValidationError as exc:
        problems = problems_from_validation(exc, str(path), "$")
        raise IntakeError([_did_you_mean(p) for p in problems]) from exc


_KEYS = {*FeedConfig.model_fields, *SiteFeeds.model_fields, *KevConfig.model_fields} - {"base"}


def _did_you_mean(problem: ImportProblem) -> ImportProblem:
    if "extra" not in problem.expected.lower() and "not permitted" not in problem.expected.lower():
        return problem
    key = problem.path.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(key, sorted(_KEYS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return problem.model_copy(update={"expected": f"a known key{hint}"})


def save_feeds(site: SiteFeeds, path: Path) -> None:
    """Write the feeds file atomically (temporary file, fsync, rename)."""
    from otorchestrator.feeds.store import atomic_write

    data = site.model_dump(mode="json", exclude_defaults=True)
    atomic_write(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode())
