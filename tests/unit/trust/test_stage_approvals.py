"""`otorch waves` with a trust file: a host that needs an approval is placed only on a verified signed
approval file; the plan's or the policy's unsigned approvals are refused (issue 11). Real lab inventory,
real `otorch plan`, real ssh-keygen."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from otorchestrator.cli.main import cli
from otorchestrator.exitcodes import ExitCode
from otorchestrator.intake.planfiles import load_plan
from otorchestrator.planning.policy import load_policy
from otorchestrator.trust import sshsig
from otorchestrator.trust.approvals import ApprovalStatement, write_statement
from otorchestrator.trust.lab import APPROVER, OPERATOR, PLANNER, lab_trust, sign_lab_approvals
from otorchestrator.trust.signed import Kind, sign_file
from otorchestrator.trust.trustfile import ApprovalKind

LAB = Path(__file__).resolve().parents[3] / "inventories" / "lab"
NOW = datetime.now(UTC)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output + (result.stderr or "")


def _make_plan(site: Path, name: str, approvals: Path | None = None, *extra: str) -> Path:
    out = site / name
    args = ["plan", "-i", str(LAB), "--advisories", str(LAB / "advisories"), "--catalog"]
    args += [str(LAB / "catalog.yml"), "--kev", str(LAB / "kev.json"), "-o", str(out), *extra]
    if approvals is not None:
        args += ["--approvals", str(approvals)]
    code, text = _invoke(*args)
    assert code == 0, text
    return out


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.delenv("OTORCH_TRUST_FILE", raising=False)
    keys = {n: tmp_path / "keys" / n for n in ("alice", "bob", "dave", "mallory")}
    pubs = {n: sshsig.generate_key(k, n) for n, k in keys.items()}
    trust = tmp_path / "trust.yml"
    spec = {
        "identities": {n: pubs[n] for n in ("alice", "bob", "dave")},
        "planners": ["alice"],
        "approvers": [
            {"principals": ["bob"], "sites": ["plant-north"], "safety_systems": True},
            {"principals": ["dave"], "sites": ["pumpstation-east"]},
        ],
    }
    trust.write_text(yaml.safe_dump(spec))
    os.chmod(trust, 0o644)
    plan = _make_plan(tmp_path, "plan.json")
    sign_file(plan, keys["alice"], Kind.PLAN)
    return {"tmp": tmp_path, "keys": keys, "trust": trust, "plan": plan, "spec": spec}


def _approve(site: dict[str, Any], asset: str, signer: str, key: str | None = None, **over: Any) -> Path:
    values: dict[str, Any] = {
        "kind": ApprovalKind.ASSET, "asset": asset, "plan_hash": load_plan(site["plan"]).content_hash,
        "approver": signer, "reason": "failover tested with operations",
        "valid_from": NOW - timedelta(hours=1), "valid_until": NOW + timedelta(hours=8),
    }  # fmt: skip
    values.update(over)
    path = write_statement(ApprovalStatement(**values), site["tmp"] / "approvals")
    sign_file(path, site["keys"][key or signer], Kind.APPROVAL)
    return path


def _waves(site: dict[str, Any], *extra: str, plan: Path | None = None) -> tuple[int, str, dict[str, Any]]:
    out = site["tmp"] / "waves.json"
    out.unlink(missing_ok=True)
    args = ["waves", str(plan or site["plan"]), "-i", str(LAB), "--policy", str(LAB / "policy.yml")]
    args += ["--trust", str(site["trust"]), "-o", str(out), *extra]
    code, text = _invoke(*args)
    return code, text, json.loads(out.read_text()) if out.is_file() else {}


def _placed(wp: dict[str, Any]) -> dict[str, Any]:
    return {h["name"]: h for w in wp["waves"] for h in w["hosts"]}


def _held(wp: dict[str, Any]) -> dict[str, str]:
    return {h["asset"]: h["reason"] for h in wp["holds"]}


def test_a_signed_approval_places_its_host_and_says_which_file(site: dict[str, Any]) -> None:
    code, text, wp = _waves(site)
    assert code == 0, text
    assert {"nw-scada-a", "nw-scada-b"} <= _held(wp).keys()
    assert "needs 1 signed asset approval(s)" in _held(wp)["nw-scada-a"]
    assert "otorch approve asset --asset nw-scada-a" in wp["holds"][0]["release"]

    approval = _approve(site, "nw-scada-a", "bob")
    code, text, wp = _waves(site)
    assert code == 0, text
    placed = _placed(wp)
    assert placed["nw-scada-a"]["approval"]["approved_by"] == "bob"
    assert approval.name in placed["nw-scada-a"]["approval"]["reason"]
    assert f"approved: nw-scada-a by {approval.name} (signed by bob)" in text
    assert "nw-scada-b" in _held(wp) and "nw-scada-b" not in placed


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("unknown key", "does not list"),
        ("expired", "expired"),
        ("other plan", "approves plan jcs-sha256:" + "9" * 64),
        ("outside the approver's sites", "dave may not approve asset for site plant-north"),
        ("not signed", "not signed"),
        ("altered after signing", "does not verify"),
    ],
)
def test_an_approval_that_does_not_count_keeps_the_host_held(
    site: dict[str, Any], how: str, expected: str
) -> None:
    if how == "unknown key":
        _approve(site, "nw-scada-a", "bob", key="mallory")
    elif how == "expired":
        _approve(site, "nw-scada-a", "bob", valid_from=NOW - timedelta(2), valid_until=NOW - timedelta(1))
    elif how == "other plan":
        _approve(site, "nw-scada-a", "bob", plan_hash="jcs-sha256:" + "9" * 64)
    elif how == "outside the approver's sites":
        _approve(site, "nw-scada-a", "dave")
    elif how == "not signed":
        Path(f"{_approve(site, 'nw-scada-a', 'bob')}.sig").unlink()
    else:
        path = _approve(site, "nw-scada-a", "bob")
        path.write_text(path.read_text().replace("failover tested", "no test needed"))
    code, text, wp = _waves(site)
    assert code == 0, text
    assert "nw-scada-a" not in _placed(wp)
    assert expected in _held(wp)["nw-scada-a"], _held(wp)["nw-scada-a"]


def test_unsigned_approvals_in_the_plan_or_the_policy_are_refused(site: dict[str, Any]) -> None:
    """Before: with a trust file in force, the plan's unsigned approval placed nw-scada-a."""
    unsigned = site["tmp"] / "approvals.yml"
    unsigned.write_text(
        yaml.safe_dump(
            [{"kind": "asset", "subject": "nw-scada-a", "approved_by": "M. Chen", "reason": "ok", "at": NOW}]
        )
    )
    plan = _make_plan(site["tmp"], "plan-approved.json", approvals=unsigned)
    sign_file(plan, site["keys"]["alice"], Kind.PLAN)
    code, text, wp = _waves(site, plan=plan)
    assert code == ExitCode.INPUT_INVALID and not wp
    assert f"{plan}: carries 1 unsigned asset approval(s): nw-scada-a (approved_by M. Chen)" in text

    policy = yaml.safe_load((LAB / "policy.yml").read_text())
    policy["approvals"] = yaml.safe_load(unsigned.read_text())
    policy_file = site["tmp"] / "policy.yml"
    policy_file.write_text(yaml.safe_dump(policy))
    code, text, wp = _waves(site, "--policy", str(policy_file))
    assert code == ExitCode.INPUT_INVALID and f"{policy_file}: carries 1 unsigned asset approval(s)" in text


def test_two_approvers_when_the_trust_file_asks(site: dict[str, Any]) -> None:
    site["spec"]["two_approvers"] = ["high_criticality"]
    site["spec"]["approvers"][0]["principals"] = ["bob", "dave"]
    site["trust"].write_text(yaml.safe_dump(site["spec"]))
    _approve(site, "nw-scada-a", "bob")
    code, text, wp = _waves(site)
    assert "needs 2 signed asset approval(s); valid from bob only" in _held(wp)["nw-scada-a"]
    _approve(site, "nw-scada-a", "dave", valid_from=NOW - timedelta(minutes=30))
    code, text, wp = _waves(site)
    assert code == 0, text
    assert _placed(wp)["nw-scada-a"]["approval"]["approved_by"] == "bob, dave"


def test_without_a_trust_file_the_recorded_approvals_still_place_hosts(site: dict[str, Any]) -> None:
    unsigned = site["tmp"] / "approvals.yml"
    unsigned.write_text(
        yaml.safe_dump(
            [{"kind": "asset", "subject": "nw-scada-a", "approved_by": "M. Chen", "reason": "ok", "at": NOW}]
        )
    )
    plan = _make_plan(site["tmp"], "plan-approved.json", approvals=unsigned)
    out = site["tmp"] / "w.json"
    args = ["waves", str(plan), "-i", str(LAB), "--policy", str(LAB / "policy.yml"), "-o", str(out)]
    code, text = _invoke(*args)
    assert code == 0, text
    assert _placed(json.loads(out.read_text()))["nw-scada-a"]["approval"]["approved_by"] == "M. Chen"


def test_the_demo_signs_the_scada_pair_and_staging_places_it(tmp_path: Path) -> None:
    """What `otorch demo` does (cli/demo.py): lab keys, the approver signs the held hosts' approvals."""
    lab = lab_trust(tmp_path / "lab")
    plan_file = _make_plan(tmp_path, "plan.json", None, "--exemptions", str(LAB / "exemptions.yml"))
    sign_file(plan_file, lab.keys[PLANNER], Kind.PLAN)
    policy = load_policy(LAB / "policy.yml")
    signed = sign_lab_approvals(lab, load_plan(plan_file), policy, tmp_path / "approvals", NOW)
    assert sorted(s.asset or "" for s in signed) == ["nw-scada-a", "nw-scada-b"]
    assert {s.approver for s in signed} == {APPROVER} != {OPERATOR}
    out = tmp_path / "waves.json"
    args = ["waves", str(plan_file), "-i", str(LAB), "--policy", str(LAB / "policy.yml"), "-o", str(out)]
    code, text = _invoke(*args, "--trust", str(lab.trust_file), "--approvals", str(tmp_path / "approvals"))
    assert code == 0, text
    placed = _placed(json.loads(out.read_text()))
    assert placed["nw-scada-a"]["approval"]["approved_by"] == placed["nw-scada-b"]["approval"]["approved_by"]
    assert placed["nw-scada-a"]["approval"]["approved_by"] == APPROVER
