"""`otorch waves` refuses a forged plan: blocked, not-vendor-tested patch edited to scheduled, hash
recomputed (issue 11, bypass 3); and an unsigned plan where the site has a trust file."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from otorchestrator.cli.main import cli
from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.models.asset import Asset, Criticality, InstalledProduct, Role
from otorchestrator.models.catalog import Qualification
from otorchestrator.models.plan import Decision, Plan, PlanItem
from otorchestrator.trust import sshsig
from otorchestrator.trust.signed import Kind, sign_file

LAB = Path(__file__).resolve().parents[3] / "inventories" / "lab"


def _plan(decision: Decision) -> Plan:
    catalog = load_catalog_strict(LAB / "catalog.yml")
    patch = next(p for p in catalog.patches if p.qualification is Qualification.NOT_TESTED)
    asset = Asset(
        name="nw-ews-01", site="plant-north", zone="z", purdue_level=2, role=Role.ENGINEERING_WORKSTATION,
        criticality=Criticality.MEDIUM,
        installed_products=(InstalledProduct(vendor=patch.vendor, product=patch.product, version="1.0.0"),),
    )  # fmt: skip
    item = PlanItem(asset=asset.name, patch_id=patch.id, cves=(), decision=decision, priority_rank=1)
    now = datetime(2026, 12, 2, tzinfo=UTC)
    return Plan(created_at=now, assets=(asset,), patches=(patch,), items=(item,)).sealed()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("OTORCH_TRUST_FILE", raising=False)
    inventory = tmp_path / "inv"
    inventory.mkdir()
    shutil.copyfile(LAB / "catalog.yml", inventory / "catalog.yml")
    return tmp_path


def _waves(site: Path, plan: Plan) -> tuple[int, str]:
    path = site / "plan.json"
    path.write_text(plan.model_dump_json())
    result = CliRunner().invoke(
        cli, ["waves", str(path), "-i", str(site / "inv"), "-o", str(site / "w.json")]
    )
    return result.exit_code, result.output + (result.stderr or "")


def test_blocked_patch_edited_to_scheduled_is_refused(site: Path) -> None:
    honest = _plan(Decision.BLOCKED)
    code, _ = _waves(site, honest)
    assert code == 0
    forged = honest.model_copy(
        update={"items": (honest.items[0].model_copy(update={"decision": Decision.SCHEDULED}),)}
    ).sealed()
    code, out = _waves(site, forged)
    assert code == ExitCode.INPUT_INVALID, out
    assert "is not_tested in the catalog and the plan schedules it scheduled" in out


def test_unsigned_plan_is_refused_under_a_trust_file(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = site / "alice"
    trust = site / "trust.yml"
    trust.write_text(
        yaml.safe_dump({"identities": {"alice": sshsig.generate_key(key, "alice")}, "planners": ["alice"]})
    )
    os.chmod(trust, 0o644)
    monkeypatch.setenv("OTORCH_TRUST_FILE", str(trust))
    plan = _plan(Decision.BLOCKED)
    code, out = _waves(site, plan)
    assert code == ExitCode.INPUT_INVALID and "not signed" in out
    sign_file(site / "plan.json", key, Kind.PLAN)
    result = CliRunner().invoke(cli, ["waves", str(site / "plan.json"), "-i", str(site / "inv")])
    assert result.exit_code == 0, result.output
