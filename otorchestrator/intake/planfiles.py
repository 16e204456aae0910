"""Read a plan file (`otorch plan`) or a wave-plan file (`otorch waves`), refusing the wrong kind, a file
that is not one at all, and one changed after it was sealed, with one clear sentence (never a raw
validation dump).

    load_plan(path)       -> Plan      (JSON, or YAML for a .yml/.yaml suffix, as `otorch plan` writes it)
    load_wave_plan(path)  -> WavePlan  (JSON, as `otorch waves -o` writes it)

Both raise PlanFileError (a ValueError) whose message names the file and what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from otorchestrator.models.plan import Plan
from otorchestrator.models.waves import WavePlan

__all__ = ["PlanFileError", "file_kind", "load_plan", "load_wave_plan"]

_MOST = 5  # validation problems shown before "... and N more"
_Sealed = TypeVar("_Sealed", Plan, WavePlan)


class PlanFileError(ValueError):
    """A plan or wave-plan file that cannot be used; the message names the file."""


def file_kind(data: Any) -> str:
    """ "plan", "wave plan" or "unknown", from the top-level keys only."""
    if not isinstance(data, dict):
        return "unknown"
    if "waves" in data and "plan_hash" in data:
        return "wave plan"
    if "items" in data and "assets" in data and "patches" in data:
        return "plan"
    return "unknown"


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"{path}: cannot read the file: {exc}") from exc
    if path.suffix.lower() in (".yml", ".yaml"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            what = getattr(exc, "problem", None) or "a YAML syntax error"
            raise PlanFileError(f"{path}{where}: not valid YAML ({what})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (a YAML plan needs a .yml or .yaml suffix)" if text.lstrip()[:1] not in "{[" else ""
        raise PlanFileError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}){hint}") from exc


def _summary(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors()[:_MOST]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
        lines.append(f"{where}: {err.get('msg', 'invalid')}")
    more = len(exc.errors()) - _MOST
    return "; ".join(lines) + (f"; ... and {more} more" if more > 0 else "")


def _wrong_kind(path: Path, wanted: str, data: Any) -> PlanFileError:
    found = file_kind(data)
    if found == "wave plan":
        return PlanFileError(
            f"{path}: this is a wave plan (from `otorch waves`), not a plan; give the plan file written by "
            "`otorch plan` (the wave plan records it as plan_hash)"
        )
    if found == "plan":
        return PlanFileError(
            f"{path}: this is a plan (from `otorch plan`), not a wave plan; stage it first: "
            f"`otorch waves {path} -o waves.json`, then give waves.json"
        )
    what = type(data).__name__ if not isinstance(data, dict) else "a mapping without its top-level keys"
    keys = "assets, patches, items" if wanted == "plan" else "waves, plan_hash, policy"
    return PlanFileError(f"{path}: not a {wanted}: found {what} (a {wanted} has {keys})")


def load_plan(path: Path) -> Plan:
    """The sealed plan in `path`; refused unless its content hash matches its content."""
    return _load_sealed(
        path,
        Plan,
        "plan",
        create="`otorch plan`",
        sealed="sealed",
        refusal="refusing to stage it. Re-create and review it with `otorch plan`.",
    )


def load_wave_plan(path: Path) -> WavePlan:
    """The sealed wave plan in `path`; refused unless its content hash matches its content."""
    return _load_sealed(
        path,
        WavePlan,
        "wave plan",
        create="`otorch waves -o`",
        sealed="staged",
        refusal="refusing it. Stage the plan again with `otorch waves`.",
    )


def _load_sealed(
    path: Path, model: type[_Sealed], kind: str, *, create: str, sealed: str, refusal: str
) -> _Sealed:
    """The `kind` file in `path` as `model`: refused when it is another kind, not usable, has no content hash
    (`create`: the command that makes one) or was changed after it was `sealed` (`refusal`: what to do)."""
    data = _read(path)
    if file_kind(data) != kind:
        raise _wrong_kind(path, kind, data)
    try:
        loaded = model.model_validate(data)
    except ValidationError as exc:
        raise PlanFileError(f"{path}: not a usable {kind}: {_summary(exc)}") from exc
    if not loaded.content_hash:
        raise PlanFileError(f"{path}: the {kind} has no content_hash; create it with {create}")
    actual = loaded.compute_hash()
    if actual != loaded.content_hash:
        raise PlanFileError(
            f"{path}: the {kind} was changed after it was {sealed} (recorded {loaded.content_hash}, "
            f"content hashes to {actual}); {refusal}"
        )
    return loaded
