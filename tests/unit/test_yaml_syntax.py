"""yaml_syntax.first_error accepts exactly what yaml.compose_all accepts (libyaml's and pure-Python's
composer), and reports PyYAML's message and mark for a text both reject."""

from __future__ import annotations

import pytest
import yaml

from otorchestrator.intake.yaml_syntax import first_error

TEXTS = {
    "empty": "",
    "comment only": "# nothing\n",
    "mapping": "all:\n  hosts:\n    h1: {ot_site: a, ot_zone: b}\n",
    "anchor and alias": "a: &x {k: 1}\nb: *x\n",
    "recursive alias": "a: &x [1, *x]\n",
    "anchor per document": "a: &x 1\n---\nb: &x 2\n",
    "alias across documents": "a: &x 1\n---\nb: *x\n",
    "undefined alias": "a: *nowhere\n",
    "alias before anchor": "a: *x\nb: &x 1\n",
    "duplicate anchor": "a: &x 1\nb: &x 2\n",
    "duplicate anchor on a collection": "a: &x [1]\nb: &x {c: 2}\n",
    "unclosed flow mapping": "ot_site: {a: 1\n",
    "unclosed flow sequence": "all:\n  hosts:\n    h1: {ot_site: [unclosed\n",
    "bad indentation": "a:\n  b: 1\n c: 2\n",
    "tab indentation": "a:\n\tb: 1\n",
    "duplicate keys": "a: 1\na: 2\n",
    "tagged values": "pw: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\nx: !unsafe '{{ y }}'\n",
    "unknown directive": "%FOO bar\n---\na: 1\n",
    "two documents": "---\na: 1\n...\n---\nb: 2\n",
    "stray quote": 'a: "unterminated\n',
    "block scalar": "a: |\n  line\n  line\nb: >-\n  folded\n",
    "mapping in sequence entry": "- a: 1\n  b: 2\n- c\n",
    "colon in plain scalar": "a: b: c\n",
}


def _composes(text: str, loader: type) -> bool:
    try:
        for _node in yaml.compose_all(text, Loader=loader):
            pass
    except yaml.YAMLError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_accepts_what_the_composer_accepts(name: str) -> None:
    text = TEXTS[name]
    expected = _composes(text, yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)
    assert (first_error(text) is None) is expected


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_error_is_pure_pythons_when_it_rejects_too(name: str) -> None:
    text = TEXTS[name]
    error = first_error(text)
    if error is None or _composes(text, yaml.SafeLoader):
        return
    with pytest.raises(yaml.MarkedYAMLError) as python:
        for _node in yaml.compose_all(text, Loader=yaml.SafeLoader):
            pass
    assert (error.problem, error.context, str(error.problem_mark)) == (
        python.value.problem,
        python.value.context,
        str(python.value.problem_mark),
    )


def test_the_corpus_covers_both_outcomes() -> None:
    rejected = [name for name, text in TEXTS.items() if first_error(text) is not None]
    assert {"undefined alias", "alias before anchor", "duplicate anchor", "unclosed flow mapping"} <= set(
        rejected
    )
    assert "anchor per document" not in rejected and "recursive alias" not in rejected
