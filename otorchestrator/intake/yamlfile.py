"""Read a YAML (or JSON) file into plain data, with errors that name the file (and `file:line:col` for a
syntax error); `read_located` also returns the line of every value, for messages that name the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from otorchestrator.intake.errors import ImportProblem, IntakeError

Lines = dict[tuple[str | int, ...], int]  # path inside the data -> 1-based line of its value


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IntakeError(
            [ImportProblem(file=str(path), path="$", expected="a readable file", found=str(exc))]
        ) from exc


def _syntax_error(file: str, exc: yaml.YAMLError) -> IntakeError:
    mark = getattr(exc, "problem_mark", None)
    where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else file
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    found = f"{problem} ({context})" if context else problem
    return IntakeError([ImportProblem(file=where, path="$", expected="valid YAML", found=found)])


def read_data(path: Path) -> Any:
    file = str(path)
    text = _text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _syntax_error(file, exc) from exc


def _walk(node: yaml.Node, here: tuple[str | int, ...], lines: Lines) -> None:
    lines[here] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                lines[(*here, key.value)] = key.start_mark.line + 1
                _walk(value, (*here, key.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _walk(value, (*here, index), lines)


def read_located(path: Path) -> tuple[Any, Lines]:
    """The data of `path` and the line of each value in it (keys are data paths, as `("a", 0, "b")`)."""
    file = str(path)
    text = _text(path)
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _syntax_error(file, exc) from exc
    lines: Lines = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def at_line(file: str, lines: Lines, *where: str | int) -> str:
    """`file:line` for the deepest known part of `where` (the file alone when nothing is known)."""
    for end in range(len(where), -1, -1):
        if where[:end] in lines:
            return f"{file}:{lines[where[:end]]}"
    return file


def list_under(data: Any, key: str, file: str) -> list[Any]:
    """`data[key]` as a list (a bare top-level list is accepted too). A mapping without `key` is refused:
    it is another kind of file (e.g. a patch catalog given as the KEV file), never read as empty."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get(key), list):
        return list(data[key])
    if isinstance(data, dict) and key not in data:
        keys = ", ".join(str(k) for k in list(data)[:5]) or "none"
        raise IntakeError(
            [
                ImportProblem(
                    file=file,
                    path=f"$.{key}",
                    expected=f"a top-level `{key}:` list (is this the right file?)",
                    found=f"a mapping with the keys {keys}",
                )
            ]
        )
    found = type(data).__name__ if not isinstance(data, dict) else type(data.get(key)).__name__
    raise IntakeError([ImportProblem(file=file, path=f"$.{key}", expected="a list", found=found)])
