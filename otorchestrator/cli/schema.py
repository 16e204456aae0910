"""`otorch schema NAME`: the JSON Schema of an input or output file, generated from the models that read it
(so it cannot drift from the code). Tests validate the example files of the repository against it."""

from __future__ import annotations

import json
from typing import Any, Literal

import click
from pydantic import BaseModel, ConfigDict, Field, create_model

from otorchestrator.intake.ot_vars import CONNECTION_VAR, CONNECTIONS, FIELD_OF, KNOWN, REQUIRED
from otorchestrator.models.asset import Asset
from otorchestrator.models.catalog import Patch
from otorchestrator.models.exemption import Exemption
from otorchestrator.models.feed_files import CsafAdvisory, KevFile
from otorchestrator.models.plan import Approval, Plan
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import WavePlan


def _listing(name: str, key: str, item: type[BaseModel]) -> type[BaseModel]:
    """A file holding a top-level `key:` list of `item`."""
    fields: dict[str, Any] = {key: (tuple[item, ...], ...)}  # type: ignore[valid-type]
    return create_model(name, **fields)


def _host_variables() -> type[BaseModel]:
    """One inventory host's OT variables (and `ansible_connection`), typed as the Asset fields they fill;
    other host variables are allowed (the reader ignores them)."""
    fields: dict[str, Any] = {}
    for variable, name in FIELD_OF.items():
        info = Asset.model_fields[name]
        annotation: Any = info.annotation
        if variable == CONNECTION_VAR:
            annotation = Literal[tuple(CONNECTIONS)]
        default = ... if variable in REQUIRED else info.default
        described = KNOWN[variable].description if variable in KNOWN else "how Ansible connects"
        fields[variable] = (annotation, Field(default, description=described))
    fields["ot_managed"] = (bool, Field(True, description=KNOWN["ot_managed"].description))
    return create_model("OtHostVariables", __config__=ConfigDict(extra="allow"), **fields)


SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "catalog": (_listing("CatalogFile", "patches", Patch), "validation"),
    "exemptions": (_listing("ExemptionsFile", "exemptions", Exemption), "validation"),
    "approvals": (_listing("ApprovalsFile", "approvals", Approval), "validation"),
    "policy": (WavePolicy, "validation"),
    "host": (_host_variables(), "validation"),
    "kev": (KevFile, "validation"),
    "csaf": (CsafAdvisory, "validation"),
    "plan": (Plan, "serialization"),
    "waveplan": (WavePlan, "serialization"),
}


def schema_for(name: str) -> dict[str, Any]:
    model, mode = SCHEMAS[name]
    schema = model.model_json_schema(mode=mode)  # type: ignore[arg-type]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


@click.command()
@click.argument("name", type=click.Choice(sorted(SCHEMAS)))
def schema(name: str) -> None:
    """Print the JSON Schema of an otorch file format.

    \b
    Examples:
      otorch schema exemptions > exemptions.schema.json
      otorch schema policy
      otorch schema host     # one inventory host's ot_* variables
    """
    click.echo(json.dumps(schema_for(name), indent=2, sort_keys=True))
