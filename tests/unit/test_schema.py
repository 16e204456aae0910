"""`otorch schema NAME`: JSON Schemas generated from the models; the repository's example files validate
against them, and a typo'd field is rejected by the schema as by the reader."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from otorchestrator.cli.schema import SCHEMAS, schema, schema_for
from otorchestrator.intake.approvals import parse_approvals
from otorchestrator.intake.catalog import parse_catalog
from otorchestrator.intake.csaf import parse_advisory
from otorchestrator.intake.exemptions import parse_exemptions
from otorchestrator.intake.host_asset import asset_from_host
from otorchestrator.intake.kev import parse_kev
from otorchestrator.planning.policy import parse_policy

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


# --- the examples of docs/formats.md ----------------------------------------------------------------------

DOCS = Path(__file__).parents[2] / "docs" / "formats.md"
INPUTS = ("host", "catalog", "exemptions", "approvals", "policy", "kev", "csaf")
_EXAMPLE = re.compile(r"<!-- example: (\w+) -->\n```(yaml|json)\n(.*?)\n```", re.S)


def documented() -> dict[str, Any]:
    """name -> the data of its example in docs/formats.md (YAML dates as ISO text, as JSON has them)."""
    out: dict[str, Any] = {}
    for name, kind, text in _EXAMPLE.findall(DOCS.read_text()):
        data = json.loads(text) if kind == "json" else yaml.safe_load(text)
        out[name] = json.loads(json.dumps(data, default=str))
    return out


def _properties(schema: dict[str, Any]) -> set[str]:
    """Every property name an object of the schema (root or $defs) declares."""
    names: set[str] = set()
    for node in (schema, *schema.get("$defs", {}).values()):
        names.update(node.get("properties", {}))
    return names


def _keys(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set(data).union(*(_keys(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(*(_keys(v) for v in data))
    return set()


def test_every_input_file_has_a_documented_example() -> None:
    assert sorted(documented()) == sorted(INPUTS)
    assert set(INPUTS) <= set(SCHEMAS)


@pytest.mark.parametrize("name", INPUTS)
def test_documented_example_validates_and_is_complete(name: str) -> None:
    data, schema = documented()[name], schema_for(name)
    jsonschema.validate(data, schema)
    unused = _properties(schema) - _keys(data)
    assert not unused, f"docs/formats.md's {name} example leaves out {sorted(unused)}"


def test_a_documented_example_with_a_typo_is_refused_by_its_schema() -> None:
    data = documented()
    patch = {**data["catalog"]["patches"][0], "qualfication": "qualified"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"patches": [patch]}, schema_for("catalog"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data["host"], "ot_purdue_level": "two"}, schema_for("host"))
    with pytest.raises(jsonschema.ValidationError):  # a KEV file without its list
        jsonschema.validate({"catalogVersion": "1"}, schema_for("kev"))


@dataclass(frozen=True)
class _Host:
    variables: Mapping[str, object]
    name: str = "nw-scada-a"
    groups: tuple[str, ...] = ("scada",)

    def source_of(self, variable: str, path: Sequence[str | int] = ()) -> str:
        return f"formats.md:{variable}"


def test_the_readers_read_the_documented_examples_without_a_problem() -> None:
    data = documented()
    result = asset_from_host(_Host(data["host"]))
    assert result.asset is not None and not result.problems, result.problems
    assert len(result.asset.maintenance_windows) == 3 and result.asset.redundancy_group == "scada-ab"
    catalog, problems = parse_catalog(data["catalog"], "catalog.yml")
    assert not problems and catalog.patches[0].rollback_minutes == 5
    exemptions, problems = parse_exemptions(data["exemptions"], "exemptions.yml")
    assert not problems and exemptions[0].groups == ("sis",)
    approvals, problems = parse_approvals(data["approvals"], "approvals.yml")
    assert not problems and [a.kind for a in approvals] == ["asset", "unqualified_patch", "drill"]
    policy = parse_policy(yaml.safe_dump(data["policy"]), "policy.yml")
    assert policy.canary.max_criticality == "medium" and policy.compliance.kev_days == 14


def test_every_kev_field_documented_arrives() -> None:
    raw = documented()["kev"]
    kev, problems = parse_kev(raw, "kev.json")
    assert not problems and kev.version == raw["catalogVersion"]
    (entry,) = kev.entries
    given = raw["vulnerabilities"][0]
    assert (entry.cve, entry.vendor, entry.product, entry.name, entry.ransomware) == (
        given["cveID"],
        given["vendorProject"],
        given["product"],
        given["vulnerabilityName"],
        given["knownRansomwareCampaignUse"],
    )
    assert entry.date_added is not None and entry.date_added.isoformat() == given["dateAdded"]
    assert entry.due_date is not None and entry.due_date.isoformat() == given["dueDate"]


def test_every_csaf_field_documented_arrives() -> None:
    raw = documented()["csaf"]
    advisory, problems = parse_advisory(raw, "nwc-sa-2026-07.json")
    assert not problems
    assert (advisory.id, advisory.title, advisory.publisher, advisory.release_date) == (
        "NWC-SA-2026-07",
        raw["document"]["title"],
        "Northwind Controls",
        "2026-03-02T00:00:00.000Z",
    )
    assert advisory.exploitation_note == "No known public exploits."
    rules = advisory.product_map()
    assert (rules["CSAFPID-0001"].vendor, rules["CSAFPID-0001"].product, rules["CSAFPID-0001"].version) == (
        "Northwind Controls",
        "NWC SCADA Server",
        "<1.1.0",
    )
    assert rules["CSAFPID-0001"].full_name == "Northwind Controls NWC SCADA Server <1.1.0"
    assert rules["CSAFPID-0002"].version_category == "product_version"
    cpe = rules["CSAFPID-0003"]
    assert (cpe.vendor, cpe.product, cpe.version) == ("northwind controls", "nwc protocol gateway", "4.2")
    related = rules["CSAFPID-0004"]
    assert related.product == "NWC SCADA Server" and related.note == "default_component_of CSAFPID-0003"
    (vuln,) = advisory.vulnerabilities
    assert (vuln.cve, vuln.title, vuln.cwe_id, vuln.cwe_name) == (
        "CVE-2026-90701",
        "Authentication bypass in the operator API",
        "CWE-287",
        "Improper Authentication",
    )
    assert vuln.affected == ("CSAFPID-0001", "CSAFPID-0004", "CSAFPID-0003") and vuln.fixed == (
        "CSAFPID-0002",
    )
    assert vuln.exploitation_note == "Exploitable remotely."
    (fix,) = vuln.remediations
    assert (fix.category, fix.details, fix.url) == (
        "vendor_fix",
        "Update to V1.1.0 or later.",
        "https://northwind-controls.example/support",
    )
    assert fix.product_ids == ("CSAFPID-0001", "CSAFPID-0004")
    (score,) = vuln.scores
    assert (score.version, score.base_score, score.severity) == ("3.1", 9.8, "CRITICAL")
    assert score.vector is not None and score.vector.startswith("CVSS:3.1/AV:N")
    assert score.products == ("CSAFPID-0001", "CSAFPID-0003", "CSAFPID-0004")
