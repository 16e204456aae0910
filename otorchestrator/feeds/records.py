"""The per-document provenance record a feed store keeps next to each verified advisory.

A stored advisory `<rel>.json` has `<rel>.json.provenance` beside it (JSON: the `Provenance` plus the listing
timestamp that drove the sync). The record is renamed into place last, so it is the commit point of a stored
revision: a document whose bytes differ from its record (a crash between the two renames, or an edit by hand)
is not the verified revision, and reading it says so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from otorchestrator.intake.errors import ImportProblem, IntakeError
from otorchestrator.models.advisory import Provenance

RECORD_SUFFIX = ".provenance"


@dataclass(frozen=True)
class StoredRecord:
    provenance: Provenance
    listed: str  # changes.csv timestamp or ROLIE `updated` of the revision stored

    def to_json(self) -> bytes:
        body = {"provenance": self.provenance.model_dump(mode="json"), "listed": self.listed}
        return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()


def record_path(document: Path) -> Path:
    return document.with_name(document.name + RECORD_SUFFIX)


def sha512_hex(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def read_record(document: Path, name: str | None = None) -> StoredRecord | None:
    """The record beside `document`, or None when there is none. Raises IntakeError when it is unreadable."""
    path = record_path(document)
    file = (name or str(document)) + RECORD_SUFFIX
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _error(file, "$", "a readable provenance record", str(exc)) from exc
    try:
        body = json.loads(raw)
        return StoredRecord(Provenance.model_validate(body["provenance"]), str(body["listed"]))
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise _error(file, "$", "a provenance record (provenance, listed)", repr(exc)[:120]) from exc


def provenance_for(document: Path, data: bytes, name: str) -> Provenance | None:
    """The provenance of the advisory `document` read as `data`: None outside a feed store; IntakeError when
    the bytes are not the ones the record says were verified."""
    record = read_record(document, name)
    if record is None:
        return None
    if sha512_hex(data) != record.provenance.sha512:
        raise _error(
            name,
            "$",
            f"the verified revision (sha512 {record.provenance.sha512[:16]}... in its provenance record)",
            f"other bytes (sha512 {sha512_hex(data)[:16]}...): changed after the sync; "
            "run `otorch feeds sync`",
        )
    return record.provenance


def _error(file: str, path: str, expected: str, found: str) -> IntakeError:
    return IntakeError([ImportProblem(file=file, path=path, expected=expected, found=found)])
