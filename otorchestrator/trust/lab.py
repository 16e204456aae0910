"""The lab's trust: keys for a planner, an approver and the demo operator under .lab/trust (never
committed), and a trust file naming them. Created once, reused; the trust file is rewritten each time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from otorchestrator.trust import sshsig

PLANNER, APPROVER, OPERATOR = "lab-planner", "lab-approver", "demo"


@dataclass(frozen=True)
class LabTrust:
    trust_file: Path
    keys: dict[str, Path]  # principal -> private key


def lab_trust(lab_dir: Path) -> LabTrust:
    root = lab_dir / "trust"
    keys: dict[str, Path] = {}
    identities: dict[str, str] = {}
    for principal in (PLANNER, APPROVER, OPERATOR):
        key = root / "keys" / principal
        if not key.is_file():
            sshsig.generate_key(key, f"{principal}@otorch-lab")
        keys[principal] = key
        identities[principal] = sshsig.public_key_line(Path(f"{key}.pub"))
    spec = {
        "schema_version": 1,
        "identities": identities,
        "planners": [PLANNER],
        "operators": [OPERATOR],
        "approvers": [{"principals": [APPROVER], "safety_systems": True}],
        "two_approvers": [],
        "approvals_dir": "approvals",
    }
    trust_file = root / "trust.yml"
    trust_file.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    os.chmod(trust_file, 0o644)
    (root / "approvals").mkdir(exist_ok=True)
    return LabTrust(trust_file, keys)
