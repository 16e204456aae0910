"""A problem found while reading an input file: which file, where in it, and what was expected."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Severity(StrEnum):
    ERROR = "error"  # the item (advisory, patch, exemption) was skipped
    WARNING = "warning"  # part of the item was skipped or could not be interpreted; the rest was kept


class ImportProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: str
    path: str  # JSON path, e.g. $.vulnerabilities[3].product_status.known_affected[0]
    expected: str
    found: str = ""
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        found = f" (found {self.found})" if self.found else ""
        return f"{self.file}: {self.path}: expected {self.expected}{found}"
