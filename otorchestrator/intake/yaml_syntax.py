"""Whether a YAML text parses, as Ansible's loader parses it, and the error to show when it does not.

Ansible reads YAML with libyaml's parser when PyYAML has it (`ansible.module_utils.common.yaml.HAS_LIBYAML`,
the same test as `yaml.__with_libyaml__`). `first_error` accepts exactly what `yaml.compose_all` with
`yaml.CSafeLoader` accepts (what Ansible's loader composes before constructing values) at a tenth of its
cost: libyaml's event stream, plus the two checks PyYAML's composer adds to it (an alias to an anchor not
defined earlier in its document, an anchor defined twice in one document). The message and mark of an error
are pure-Python PyYAML's (`yaml.SafeLoader`), which names the problem more precisely than libyaml, when it
rejects the text too; otherwise libyaml's. tests/unit/test_yaml_syntax.py proves the acceptance equal to
`compose_all` on both parsers over a corpus of valid and broken texts.
"""

from __future__ import annotations

from typing import Any

import yaml


def first_error(text: str) -> yaml.MarkedYAMLError | None:
    """None when `text` (every document of it) parses; else the first syntax error."""
    try:
        if yaml.__with_libyaml__:
            _check_events(text)
        else:  # pragma: no cover - PyYAML without libyaml: Ansible parses with the pure-Python parser too
            _compose(text)
        return None
    except yaml.MarkedYAMLError as exc:
        fast = exc
    try:
        _compose(text)
    except yaml.MarkedYAMLError as exc:
        return exc
    return fast


def _compose(text: str) -> None:
    for _node in yaml.compose_all(text, Loader=yaml.SafeLoader):
        pass


def _check_events(text: str) -> None:
    """libyaml's parse of `text`, with the composer's alias and anchor checks (PyYAML composer.py)."""
    anchors: dict[str, Any] = {}  # anchor -> its mark (libyaml's Mark type, not yaml.error.Mark)
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        mark: Any = event.start_mark
        if isinstance(event, yaml.DocumentStartEvent):
            anchors = {}
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}", mark)
        elif isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            if event.anchor in anchors:
                raise yaml.composer.ComposerError(
                    f"found duplicate anchor {event.anchor!r}; first occurrence",
                    anchors[event.anchor],
                    "second occurrence",
                    mark,
                )
            anchors[event.anchor] = mark
