"""`otorch schema NAME`: JSON Schemas generated from the models; the repository's example files validate
against them, and a typo'd field is rejected by the schema as by the reader."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from otorchestrator.cli.schema import SCHEMAS, schema, schema_for

LAB = Path(__file__).parents[2] / "inventories" / "lab"
EXAMPLES = [
    ("exemptions", LAB / "exemptions.yml"),
    ("policy", LAB / "policy.yml"),
    ("catalog", LAB / "catalog.yml"),
]


@pytest.mark.parametrize(("name", "path"), EXAMPLES)
def test_examples_validate(name: str, path: Path) -> None:
    data = json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))
    jsonschema.validate(data, schema_for(name))


def test_unknown_field_is_rejected_by_the_schema() -> None:
    data = yaml.safe_load((LAB / "policy.yml").read_text())
    data["max_host_per_wave"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema_for("policy"))


def test_every_schema_is_valid_and_printed() -> None:
    for name in SCHEMAS:
        result = CliRunner().invoke(schema, [name])
        assert result.exit_code == 0, result.output
        jsonschema.Draft202012Validator.check_schema(json.loads(result.output))
