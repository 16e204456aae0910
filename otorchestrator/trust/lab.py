"""The lab's trust: keys for a planner, an approver and the demo operator under .lab/trust (never
committed), and a trust file naming them. Created once, reused; the trust file is rewritten each time.
`sign_lab_approvals`: the approver's signed asset approvals the demo stages and runs with."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from otorchestrator.models.plan import Plan
from otorchestrator.models.policy import WavePolicy
from otorchestrator.trust import sshsig
from otorchestrator.trust.approvals import ApprovalStatement, write_statement
from otorchestrator.trust.signed import Kind, sign_file
from otorchestrator.trust.trustfile import ApprovalKind

PLANNER, APPROVER, OPERATOR, AUDIT = "lab-planner", "lab-approver", "demo", "lab-audit"


@dataclass(frozen=True)
class LabTrust:
    trust_file: Path
    keys: dict[str, Path]  # principal -> private key


def lab_trust(lab_dir: Path) -> LabTrust:
    root = lab_dir / "trust"
    keys: dict[str, Path] = {}
    identities: dict[str, str] = {}
    for principal in (PLANNER, APPROVER, OPERATOR, AUDIT):
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
        "audit_signers": [AUDIT],  # signs the audit checkpoints (docs/audit.md)
    }
    trust_file = root / "trust.yml"
    trust_file.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    os.chmod(trust_file, 0o644)
    (root / "approvals").mkdir(exist_ok=True)
    return LabTrust(trust_file, keys)


def sign_lab_approvals(
    lab: LabTrust, plan: Plan, policy: WavePolicy, directory: Path, now: datetime, hours: int = 12
) -> list[ApprovalStatement]:
    """The demo's approver (not its operator) signs an asset approval of this plan for every host the
    policy holds for one (the lab's SCADA pair), valid `hours` from `now`, into `directory`."""
    deployable = {i.asset for i in plan.items if i.decision in policy.include_decisions}
    made: list[ApprovalStatement] = []
    for asset in plan.assets:
        if asset.name not in deployable or not policy.needs_approval(asset.criticality, asset.safety_system):
            continue
        statement = ApprovalStatement(
            kind=ApprovalKind.ASSET, asset=asset.name, plan_hash=plan.content_hash, approver=APPROVER,
            reason=f"lab demo: {asset.criticality.value} criticality, redundancy pair failover tested",
            valid_from=now, valid_until=now + timedelta(hours=hours),
        )  # fmt: skip
        sign_file(write_statement(statement, directory), lab.keys[APPROVER], Kind.APPROVAL)
        made.append(statement)
    return made
