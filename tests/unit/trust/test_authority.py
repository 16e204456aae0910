"""Authority at run time, through `otorch run` with the fake backend and the real ssh-keygen.

Each measured bypass of issue 11 and each way an approval can fail: refused before the host (or, for
run-level problems, any host) is touched; the other hosts of the wave go on.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fake_backend import FakeBackend, fake_hosts, make_plan, write_inventory

from otorchestrator.cli import run as cli_run
from otorchestrator.cli.main import cli
from otorchestrator.models.plan import Decision, Plan, PlanItem
from otorchestrator.models.waves import WavePlan
from otorchestrator.store.clock import FakeClock, SystemClock
from otorchestrator.trust import sshsig
from otorchestrator.trust.approvals import ApprovalStatement, write_statement
from otorchestrator.trust.signed import Kind, sign_file
from otorchestrator.trust.trustfile import ApprovalKind

NOW = datetime.now(UTC)


def _plan_for(wp: WavePlan) -> Plan:
    items = tuple(
        PlanItem(asset=h.name, patch_id=p, cves=(), decision=Decision.SCHEDULED, priority_rank=1)
        for w in wp.waves
        for h in w.hosts
        for p in h.patch_ids
    )
    return Plan(created_at=wp.created_at, assets=wp.assets, patches=wp.patches, items=items).sealed()


def _with_sis(wp: WavePlan, name: str) -> WavePlan:
    assets = tuple(a.model_copy(update={"safety_system": True}) if a.name == name else a for a in wp.assets)
    waves = tuple(
        w.model_copy(
            update={
                "hosts": tuple(
                    h.model_copy(update={"safety_system": True}) if h.name == name else h for h in w.hosts
                )
            }
        )
        for w in wp.waves
    )
    return wp.model_copy(update={"assets": assets, "waves": waves})


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    keys = {}
    for name in ("alice", "bob", "carol", "mallory"):
        keys[name] = tmp_path / "keys" / name
        sshsig.generate_key(keys[name], name)
    identities = {n: sshsig.public_key_line(Path(f"{keys[n]}.pub")) for n in ("alice", "bob", "carol")}
    trust = tmp_path / "trust" / "trust.yml"
    trust.parent.mkdir()
    trust.write_text(
        yaml.safe_dump(
            {
                "identities": identities,
                "planners": ["alice"],
                "operators": ["carol", "bob"],
                "approvers": [{"principals": ["bob", "carol"], "safety_systems": True}],
            }
        )
    )
    os.chmod(trust, 0o644)
    wp = _with_sis(make_plan([["a", "sis", "c"]], critical=["sis"]), "sis")
    plan = _plan_for(wp)
    wp = wp.model_copy(update={"plan_hash": plan.content_hash}).sealed()
    plan_file, waves_file = tmp_path / "plan.json", tmp_path / "waves.json"
    plan_file.write_text(plan.model_dump_json())
    waves_file.write_text(wp.model_dump_json())
    sign_file(plan_file, keys["alice"], Kind.PLAN)
    sign_file(waves_file, keys["alice"], Kind.WAVEPLAN)
    inventory = tmp_path / "inventory"
    write_inventory(wp, inventory)
    backend = FakeBackend(fake_hosts(wp), FakeClock(SystemClock().now()))
    backend.seconds_per_phase = 0
    monkeypatch.setattr(cli_run, "make_backend", lambda paths: backend)
    monkeypatch.delenv("OTORCH_OPERATOR", raising=False)
    monkeypatch.delenv("OTORCH_TRUST_FILE", raising=False)
    return {
        "keys": keys, "trust": trust, "plan": plan, "wp": wp, "plan_file": plan_file, "waves": waves_file,
        "inv": inventory, "backend": backend, "state": tmp_path / "state", "tmp": tmp_path,
    }  # fmt: skip


def _approve(site: dict[str, Any], signer: str, **over: Any) -> Path:
    values: dict[str, Any] = {
        "kind": ApprovalKind.ASSET, "asset": "sis", "plan_hash": site["plan"].content_hash,
        "approver": signer, "reason": "shutdown window agreed with operations",
        "valid_from": NOW - timedelta(hours=1), "valid_until": NOW + timedelta(hours=8),
    }  # fmt: skip
    key = over.pop("key", signer)
    values.update(over)
    path = write_statement(ApprovalStatement(**values), site["trust"].parent / "approvals")
    sign_file(path, site["keys"][key], Kind.APPROVAL)
    return path


def _run(site: dict[str, Any], waves: Path | None = None, trust: bool = True, key: str = "carol") -> Any:
    args = ["run", str(waves or site["waves"]), "-i", str(site["inv"]), "--yes", "--json",
            "--no-artifact-check", "--operator", key, "--state-dir", str(site["state"])]  # fmt: skip
    if trust:
        args += [
            "--trust",
            str(site["trust"]),
            "--plan",
            str(site["plan_file"]),
            "--key",
            str(site["keys"][key]),
        ]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _strict(site: dict[str, Any], waves: Path, key: str) -> Any:
    """`otorch run` with the trust file and the signed plan, as operator carol proving it with `key`."""
    args = ["run", str(waves), "-i", str(site["inv"]), "--yes", "--no-artifact-check", "--operator", "carol"]
    args += ["--state-dir", str(site["state"]), "--trust", str(site["trust"])]
    args += ["--plan", str(site["plan_file"]), "--key", str(site["keys"][key])]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _states(result: Any) -> dict[str, tuple[str, str]]:
    data = json.loads(result.output)
    return {h["host"]: (h["state"], h.get("detail") or "") for h in data["hosts"]}


def _touched(site: dict[str, Any]) -> set[str]:
    return {h for call in site["backend"].calls for h in call.hosts}


def test_signed_run_with_a_valid_approval_by_someone_else(site: dict[str, Any]) -> None:
    approval = _approve(site, "bob")
    result = _run(site)
    assert result.exit_code == 0, result.output
    assert {h: s for h, (s, _) in _states(result).items()} == {
        "a": "succeeded",
        "sis": "succeeded",
        "c": "succeeded",
    }
    audit = Path(json.loads(result.output)["audit_log"]).read_text().splitlines()
    admitted = {
        r["host"]: r["detail"]["approvals"]
        for r in map(json.loads, audit)
        if r["kind"] == "authority" and r["result"] == "admitted"
    }
    assert admitted.keys() == {"a", "sis", "c"} and admitted["a"] == []
    assert admitted["sis"] == [
        {
            "kind": "asset", "file": approval.name, "approver": "bob",
            "valid_until": (NOW + timedelta(hours=8)).isoformat(),
            "sha256": hashlib.sha256(approval.read_bytes()).hexdigest(),
        }
    ]  # fmt: skip


def _reseal(wp: WavePlan, path: Path, **hosts: str) -> Path:
    """The bypass: rename hosts in the wave plan and recompute its hash with the project's own code."""
    data = json.loads(wp.model_dump_json())
    for wave in data["waves"]:
        for host in wave["hosts"]:
            host["name"] = hosts.get(host["name"], host["name"])
    for asset in data["assets"]:
        asset["name"] = hosts.get(asset["name"], asset["name"])
    forged = WavePlan.model_validate(data).sealed()
    path.write_text(forged.model_dump_json())
    return path


def test_forged_wave_plan_with_a_swapped_host_is_refused(site: dict[str, Any]) -> None:
    forged = _reseal(site["wp"], site["tmp"] / "forged.json", a="b")
    (site["tmp"] / "forged.json.sig").write_text((site["tmp"] / "waves.json.sig").read_text())
    result = _strict(site, forged, key="carol")
    assert result.exit_code == 5
    assert "signature does not verify" in result.stderr
    assert site["backend"].calls == []


def test_unsigned_wave_plan_is_refused_when_the_site_has_a_trust_file(site: dict[str, Any]) -> None:
    (site["tmp"] / "waves.json.sig").unlink()
    result = _strict(site, site["waves"], key="carol")
    assert result.exit_code == 5 and "not signed" in result.stderr
    assert site["backend"].calls == []


def test_wave_plan_staged_from_another_plan_is_refused(site: dict[str, Any]) -> None:
    other = site["plan"].model_copy(update={"warnings": ("another plan",)}).sealed()
    site["plan_file"].write_text(other.model_dump_json())
    sign_file(site["plan_file"], site["keys"]["alice"], Kind.PLAN)
    result = _strict(site, site["waves"], key="carol")
    assert result.exit_code == 5 and "was staged from plan" in result.stderr
    assert site["backend"].calls == []


def test_operator_must_prove_identity(site: dict[str, Any]) -> None:
    result = _strict(site, site["waves"], key="mallory")
    assert result.exit_code == 5 and "does not list" in result.stderr
    assert site["backend"].calls == []


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("unknown key", "does not list"),
        ("expired", "expired"),
        ("self", "separation of duties"),
        ("other plan", "approves plan sha256:" + "9" * 64),
        ("none", "needs 1 signed asset approval"),
    ],
)
def test_bad_approvals_refuse_only_that_host(site: dict[str, Any], how: str, expected: str) -> None:
    if how == "unknown key":
        _approve(site, "bob", key="mallory")
    elif how == "expired":
        _approve(site, "bob", valid_from=NOW - timedelta(days=2), valid_until=NOW - timedelta(days=1))
    elif how == "self":
        _approve(site, "carol")
    elif how == "other plan":
        _approve(site, "bob", plan_hash="sha256:" + "9" * 64)
    result = _run(site)
    states = _states(result)
    assert states["sis"][0] == "skipped" and "authority" in states["sis"][1]
    assert expected in states["sis"][1], states["sis"][1]
    assert "sis" not in _touched(site)
    assert states["a"][0] == states["c"][0] == "succeeded"


def test_renamed_host_installing_a_product_it_never_had_is_refused(site: dict[str, Any]) -> None:
    """Bypass 2: the run used to install pkg-a on host b (wave plan re-sealed, no trust file)."""
    wp = make_plan([["a", "c"], ["b"]])
    waves = site["tmp"] / "w2.json"
    waves.write_text(wp.model_dump_json())
    write_inventory(wp, site["inv"])
    site["backend"].hosts.update(fake_hosts(wp))
    forged = _reseal(wp, site["tmp"] / "renamed.json", a="b")
    result = _run(site, forged, trust=False)
    states = _states(result)
    assert states["b"][0] == "skipped"
    assert "does not run Northwind Controls Product a" in states["b"][1]
    assert states["c"][0] == "succeeded"
    assert "b" not in _touched(site) and site["backend"].installs("b") == 0


def test_host_missing_from_the_inventory_does_not_take_its_wave_down(site: dict[str, Any]) -> None:
    wp = make_plan([["a", "c", "ghost"]])
    waves = site["tmp"] / "w3.json"
    waves.write_text(wp.model_dump_json())
    write_inventory(wp, site["inv"], skip=["ghost"])
    result = _run(site, waves, trust=False)
    states = _states(result)
    assert states["ghost"][0] == "skipped" and "not in the inventory" in states["ghost"][1]
    assert states["a"][0] == states["c"][0] == "succeeded"
    assert "ghost" not in _touched(site)


def test_changed_fact_in_the_inventory_refuses_the_host(site: dict[str, Any]) -> None:
    """Bypass 1 without a trust file: the wave plan says low, the inventory says critical."""
    wp = make_plan([["a", "c"]])
    waves = site["tmp"] / "w4.json"
    waves.write_text(wp.model_dump_json())
    critical = make_plan([["a", "c"]], critical=["a"])
    write_inventory(critical, site["inv"])
    result = _run(site, waves, trust=False)
    states = _states(result)
    assert states["a"][0] == "skipped" and "criticality is critical in the inventory" in states["a"][1]
    assert states["c"][0] == "succeeded"


def test_the_run_says_which_signed_approval_admitted_which_host(site: dict[str, Any]) -> None:
    approval = _approve(site, "bob")
    args = ["run", str(site["waves"]), "-i", str(site["inv"]), "--yes", "--no-artifact-check"]
    args += ["--operator", "carol", "--state-dir", str(site["state"]), "--trust", str(site["trust"])]
    args += ["--plan", str(site["plan_file"]), "--key", str(site["keys"]["carol"])]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"sis admitted by signed approval {approval.name}" in " ".join(result.output.split())
    assert "a admitted by" not in result.output  # a low-criticality host needs none
