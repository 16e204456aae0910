"""A feed's store on disk: the verified documents under their publisher names, each with the publisher's
.asc and .sha512 and our provenance record, plus index.json (every record, rebuilt at the end of a sync).

    <state>/feeds/<feed>/advisories/2022/icsa-22-006-01.json             the verified bytes
    <state>/feeds/<feed>/advisories/2022/icsa-22-006-01.json.asc         publisher's signature
    <state>/feeds/<feed>/advisories/2022/icsa-22-006-01.json.sha512      publisher's hash file
    <state>/feeds/<feed>/advisories/2022/icsa-22-006-01.json.provenance  ours: feed, url, signer, ...
    <state>/feeds/<feed>/index.json

`otorch plan --advisories <state>/feeds/<feed>/advisories` reads it like any folder, with provenance.
Every file is written to a temporary name, fsynced and renamed; the record last (the commit point).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.feeds.records import RECORD_SUFFIX, StoredRecord, read_record, record_path, sha512_hex
from otorchestrator.intake.errors import IntakeError

TMP_MARK = ".tmp-"


def atomic_write(path: Path, data: bytes) -> None:
    atomic_write_all([(path, data)])


def atomic_write_all(files: list[tuple[Path, bytes]]) -> None:
    """Write each file to a temporary name and fsync it, then rename them in the order given, then fsync
    their directories: a crash leaves every file either old or new, never partly written."""
    staged = []
    for path, data in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        staged.append((tmp, path))
    for tmp, path in staged:
        os.replace(tmp, path)
    for directory in sorted({path.parent for _, path in staged}):
        _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Stored:
    record: StoredRecord
    intact: bool  # the document's bytes are the ones its record says were verified


class FeedStore:
    def __init__(self, state_root: Path, feed: str) -> None:
        self.root = state_root / "feeds" / feed
        self.advisories = self.root / "advisories"
        self.index = self.root / "index.json"

    def document(self, name: str) -> Path:
        return self.advisories / name

    def clean(self) -> int:
        """Remove temporary files a killed sync left behind; how many."""
        removed = 0
        for tmp in self.advisories.rglob(f".*{TMP_MARK}*") if self.advisories.exists() else ():
            tmp.unlink(missing_ok=True)
            removed += 1
        return removed

    def stored(self) -> dict[str, Stored]:
        """Every committed document by stored name. A record that cannot be read counts as not stored."""
        out: dict[str, Stored] = {}
        if not self.advisories.exists():
            return out
        for record_file in sorted(self.advisories.rglob(f"*.json{RECORD_SUFFIX}")):
            document = record_file.with_name(record_file.name[: -len(RECORD_SUFFIX)])
            name = document.relative_to(self.advisories).as_posix()
            try:
                record = read_record(document, name)
                data = document.read_bytes()
            except (IntakeError, OSError):
                continue
            if record is not None:
                out[name] = Stored(record, sha512_hex(data) == record.provenance.sha512)
        return out

    def commit(
        self, name: str, data: bytes, signature: bytes, hash_file: bytes, record: StoredRecord
    ) -> None:
        """Store one verified revision: evidence and document first, the record last."""
        document = self.document(name)
        atomic_write_all(
            [
                (document.with_name(document.name + ".asc"), signature),
                (document.with_name(document.name + ".sha512"), hash_file),
                (document, data),
                (record_path(document), record.to_json()),
            ]
        )

    def write_index(self, stored: dict[str, Stored]) -> None:
        body = {
            name: {**item.record.provenance.model_dump(mode="json"), "listed": item.record.listed}
            for name, item in sorted(stored.items())
        }
        atomic_write(self.index, (json.dumps(body, indent=1, sort_keys=True) + "\n").encode())
