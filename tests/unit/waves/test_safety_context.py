"""`otorch waves` shows, per host, the approvals and overrides it carries (who, when, why) and the
exemptions applied or expired with their controls, in the terminal and in the JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from otorchestrator.cli.waves import waves
from otorchestrator.models.asset import Criticality
from otorchestrator.models.plan import Approval, Decision, ExemptionRef, Plan, PlanItem

from ._build import NOW, approval, asset, patch

EXPIRED = ExemptionRef(
    id="EX-OLD",
    reason="vendor fix pending",
    compensating_controls=("firewall rule FW-12",),
    approver="carol",
    expires=NOW - timedelta(days=3),
    expired=True,
)
ACTIVE = EXPIRED.model_copy(
    update={"id": "EX-NEW", "expires": NOW + timedelta(days=30), "expired": False, "approver": "dave"}
)
OVERRIDE = Approval(kind="unqualified_patch", subject="HIST", approved_by="erin", reason="CAB-19", at=NOW)


def _plan() -> Plan:
    def item(host: str, pid: str, decision: Decision, rank: int, **kw: object) -> PlanItem:
        return PlanItem(
            asset=host, patch_id=pid, cves=("CVE-2026-1",), decision=decision, priority_rank=rank, **kw
        )

    return Plan(
        created_at=NOW,
        assets=(
            asset("scada-1", criticality=Criticality.HIGH),
            asset("hist-1"),
            asset("hmi-1"),
            asset("hmi-2"),
        ),
        patches=(patch("SCADA"), patch("HIST"), patch("HMI")),
        items=(
            item("scada-1", "SCADA", Decision.SCHEDULED, 1),
            item("hist-1", "HIST", Decision.SCHEDULED, 2, override=OVERRIDE),
            item("hmi-1", "HMI", Decision.SCHEDULED, 3, exemption=EXPIRED),
            item("hmi-2", "HMI", Decision.EXEMPT, 4, exemption=ACTIVE),
        ),
        approvals=(approval("scada-1"), OVERRIDE),
    ).sealed()


def test_terminal_and_json_show_who_when_why(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(_plan().model_dump_json())
    result = CliRunner().invoke(waves, [str(path), "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "Approvals, overrides and exemptions" in flat
    for text in (
        "alice",
        "change board CB-7",
        "override HIST (unqualified_patch)",
        "erin",
        "CAB-19",
        "exemption EX-OLD on HMI",
        "EXPIRED 2026-11-19 02:00 UTC, not applied",
        "firewall rule FW-12",
        "exemption EX-NEW on HMI",
        "applied until 2026-12-22 02:00 UTC",
        "dave",
    ):
        assert text in flat, text
    data = json.loads(CliRunner().invoke(waves, [str(path), "--now", NOW.isoformat(), "--json"]).output)
    hosts = {h["name"]: h for w in data["waves"] for h in w["hosts"]}
    assert hosts["scada-1"]["approval"]["approved_by"] == "alice"
    assert hosts["hist-1"]["items"][0]["override"]["approved_by"] == "erin"
    assert hosts["hmi-1"]["items"][0]["exemption"]["expired"] is True
    out = {(e["asset"], e["patch_id"]): e for e in data["exclusions"]}
    assert out[("hmi-2", "HMI")]["exemption"]["compensating_controls"] == ["firewall rule FW-12"]
