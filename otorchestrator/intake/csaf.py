"""CSAF 2.0 reader: product tree (branches, full_product_names, relationships), statuses, fixes, scores.

One bad advisory is reported (file + JSON path) and skipped; a bad part of an advisory (one vulnerability,
one product node) is reported as a warning and the rest of the advisory is kept. The product tree is read in
`csaf_products`, the vulnerabilities in `csaf_vulnerabilities`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from otorchestrator.feeds.records import provenance_for
from otorchestrator.intake.csaf_context import _Ctx, _str
from otorchestrator.intake.csaf_products import _product_tree
from otorchestrator.intake.csaf_vulnerabilities import _exploitation_note, _vulnerability
from otorchestrator.intake.errors import ImportProblem, IntakeError, jpath
from otorchestrator.models.advisory import Advisory


def parse_advisory(data: Any, file: str) -> tuple[Advisory, list[ImportProblem]]:
    """Interpret one CSAF document. Raises IntakeError when it is not usable at all."""
    ctx = _Ctx(file)
    if not isinstance(data, dict):
        raise ctx.fail("$", "a CSAF document object", data)
    doc = data.get("document")
    if not isinstance(doc, dict):
        raise ctx.fail("$.document", "an object", doc)
    tracking = doc.get("tracking")
    adv_id = _str(tracking.get("id")) if isinstance(tracking, dict) else None
    if adv_id is None:
        raise ctx.fail("$.document.tracking.id", "a string", tracking)
    version = str(doc.get("csaf_version", ""))
    if not version.startswith("2."):
        ctx.warn("$.document.csaf_version", "2.0", doc.get("csaf_version"))
    rules = _product_tree(ctx, data.get("product_tree"))
    known = {r.product_id for r in rules}
    vulns_raw = data.get("vulnerabilities", [])
    if not isinstance(vulns_raw, list):
        raise ctx.fail("$.vulnerabilities", "a list", vulns_raw)
    vulns = []
    for index, raw in enumerate(vulns_raw):
        vuln = _vulnerability(ctx, raw, jpath("$.vulnerabilities", index), known)
        if vuln is not None:
            vulns.append(vuln)
    publisher = doc.get("publisher")
    advisory = Advisory(
        id=adv_id,
        title=_str(doc.get("title")) or "",
        publisher=(_str(publisher.get("name")) or "") if isinstance(publisher, dict) else "",
        release_date=_str(tracking.get("current_release_date")) if isinstance(tracking, dict) else None,
        source=file,
        exploitation_note=_exploitation_note(doc.get("notes")),
        products=tuple(rules),
        vulnerabilities=tuple(vulns),
    )
    return advisory, ctx.problems


def read_advisory(path: Path, name: str | None = None) -> tuple[Advisory, list[ImportProblem]]:
    """One CSAF file. `name` is how the advisory and its problems name the file (default: the path as
    given); `load_advisories` passes the path relative to the --advisories root, so a plan does not depend
    on the directory it was made from."""
    file = str(path) if name is None else name
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise IntakeError(
            [
                ImportProblem(
                    file=file,
                    path="$",
                    expected="valid JSON",
                    found=f"{exc.msg} at line {exc.lineno} column {exc.colno}",
                )
            ]
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise IntakeError(
            [ImportProblem(file=file, path="$", expected="a readable file", found=str(exc))]
        ) from exc
    advisory, problems = parse_advisory(data, file)
    provenance = provenance_for(path, raw, file)  # None unless read from a feed store (otorch feeds sync)
    if provenance is not None:
        advisory = advisory.model_copy(update={"provenance": provenance})
    return advisory, problems


def advisory_sources(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """(file, name) for each file named directly (name: its file name) and each *.json under a named
    directory (name: its path relative to that directory, with `/`), in a stable order. The names do not
    depend on the working directory or on how the paths were typed."""
    out: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            out.extend((f, f.relative_to(path).as_posix()) for f in sorted(path.rglob("*.json")))
        else:
            out.append((path, path.name))
    return out


def advisory_files(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus every *.json under named directories, in a stable order."""
    return [path for path, _ in advisory_sources(paths)]


def load_advisories(paths: Iterable[Path]) -> tuple[tuple[Advisory, ...], tuple[ImportProblem, ...]]:
    """Read every advisory; a broken one is reported and skipped, never aborting the import. Advisories and
    problems name each file as `advisory_sources` does."""
    advisories: list[Advisory] = []
    problems: list[ImportProblem] = []
    for path, name in advisory_sources(paths):
        try:
            advisory, found = read_advisory(path, name)
        except IntakeError as exc:
            problems.extend(exc.problems)
            continue
        except Exception as exc:  # a reader bug must not abort the import either: report it
            problems.append(
                ImportProblem(file=name, path="$", expected="a readable advisory", found=repr(exc))
            )
            continue
        advisories.append(advisory)
        problems.extend(found)
    return tuple(advisories), tuple(problems)
