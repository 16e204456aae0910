"""Issue 11's bypasses against the real lab: the real `otorch run --check` (a subprocess: real
ansible-runner, real SSH, real ssh-keygen) refuses a forged wave plan before any host is touched, and a
refused host (an approval that does not count, a host the inventory does not list, a host renamed onto a
product it never ran, a fact that differs from the inventory) is skipped with its reason while the other
hosts of its wave run through the whole chain.

Only nw-hmi-01 and nw-hmi-02 of the suite's lab (OTORCH_LAB_NAME) are started: a refused host that was
touched would show up in a phase's host list (and fail as unreachable, its container is not running).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from _lab import lab_wave_host, require_lab

from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.intake.inventory import load_inventory
from otorchestrator.lab import LabConfig, lifecycle
from otorchestrator.lab.handle import LabHandle
from otorchestrator.models.plan import Decision, Plan, PlanItem
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import Wave, WaveHost, WavePlan
from otorchestrator.store import audit as audit_mod
from otorchestrator.trust import sshsig
from otorchestrator.trust.approvals import ApprovalStatement, write_statement
from otorchestrator.trust.signed import Kind, sign_file
from otorchestrator.trust.trustfile import ApprovalKind

pytestmark = [pytest.mark.lab, pytest.mark.slow]

UP = ["nw-hmi-01", "nw-hmi-02"]  # the only hosts started; everything else must never be touched
PATCH = {"nw-hmi-01": "NWC-P-2026-0103", "nw-hmi-02": "NWC-P-2026-0103", "nw-scada-a": "NWC-P-2026-0101"}
OTORCH = [str(Path(sys.executable).parent / "otorch")]
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def tlab() -> Iterator[LabHandle]:
    require_lab()
    cfg = LabConfig.from_env()
    lifecycle.up(cfg, names=UP)
    handle = LabHandle.for_config(cfg)
    handle.ensure_baseline(*UP)
    yield handle


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OTORCH_OPERATOR", None)
    env.pop("OTORCH_TRUST_FILE", None)
    return env


def otorch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OTORCH, *args], capture_output=True, text=True, env=_env(), timeout=900, check=False
    )


def _wave_host(name: str, asset_name: str, lab: LabHandle) -> WaveHost:
    """`name` in the wave plan with the facts of inventory asset `asset_name` (a forger's copy)."""
    asset = load_inventory(lab.inventory).by_name()[asset_name]
    patch = load_catalog_strict(lab.inventory / "catalog.yml").by_id()[PATCH[asset_name]]
    return lab_wave_host(name, asset, patch, NOW, "lab test")


def _plans(lab: LabHandle, hosts: Sequence[tuple[str, str]]) -> tuple[Plan, WavePlan]:
    """A plan and the wave plan staged from it: one wave of `hosts` ((name, asset whose facts it has))."""
    assets = load_inventory(lab.inventory).by_name()
    patches = load_catalog_strict(lab.inventory / "catalog.yml").by_id()
    wave_hosts = tuple(_wave_host(name, source, lab) for name, source in hosts)
    embedded = tuple(assets[source].model_copy(update={"name": name}) for name, source in hosts)
    used = tuple({PATCH[source]: patches[PATCH[source]] for _, source in hosts}.values())
    items = tuple(
        PlanItem(asset=h.name, patch_id=h.patch_ids[0], cves=(), decision=Decision.SCHEDULED, priority_rank=1)
        for h in wave_hosts
    )
    plan = Plan(created_at=NOW, assets=embedded, patches=used, items=items).sealed()
    wave = Wave(
        index=0, name="wave-0", kind="wave", slot_start=NOW, slot_end=NOW + timedelta(hours=1),
        failure_budget=0, hosts=wave_hosts,
    )  # fmt: skip
    policy = WavePolicy()
    wp = WavePlan(
        created_at=NOW, plan_hash=plan.content_hash, policy_hash=policy.compute_hash(), policy=policy,
        inventory=str(lab.inventory), assets=embedded, patches=used, waves=(wave,),
    ).sealed()  # fmt: skip
    return plan, wp


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Any]:
    keys = {n: tmp_path / "keys" / n for n in ("alice", "bob", "carol", "mallory")}
    pubs = {n: sshsig.generate_key(k, n) for n, k in keys.items()}
    trust = tmp_path / "trust" / "trust.yml"
    trust.parent.mkdir()
    spec = {
        "identities": {n: pubs[n] for n in ("alice", "bob", "carol")},
        "planners": ["alice"],
        "operators": ["carol"],
        "approvers": [{"principals": ["bob", "carol"], "safety_systems": True}],
    }
    trust.write_text(yaml.safe_dump(spec))
    os.chmod(trust, 0o644)
    return {"tmp": tmp_path, "keys": keys, "trust": trust, "approvals": trust.parent / "approvals"}


def _write_signed(site: dict[str, Any], plan: Plan, wp: WavePlan, tag: str = "") -> tuple[Path, Path]:
    plan_file, waves_file = site["tmp"] / f"plan{tag}.json", site["tmp"] / f"waves{tag}.json"
    plan_file.write_text(plan.model_dump_json())
    waves_file.write_text(wp.model_dump_json())
    sign_file(plan_file, site["keys"]["alice"], Kind.PLAN)
    sign_file(waves_file, site["keys"]["alice"], Kind.WAVEPLAN)
    return plan_file, waves_file


def _run(
    site: dict[str, Any], waves: Path, plan: Path | None, state: str
) -> subprocess.CompletedProcess[str]:
    args = ["run", str(waves), "--check", "--yes", "--json", "--operator", "carol"]
    args += ["--state-dir", str(site["tmp"] / state)]
    if plan is not None:
        args += ["--trust", str(site["trust"]), "--plan", str(plan), "--key", str(site["keys"]["carol"])]
    return otorch(*args)


def _touched(state: Path) -> set[str]:
    audit = state / "audit.jsonl"
    if not audit.is_file():
        return set()
    started = [e for _, e in audit_mod.read_events(audit) if e.kind == "phase_started"]
    return {h for e in started for h in e.detail["hosts"]}


def _states(result: Any) -> dict[str, tuple[str, str]]:
    data = json.loads(result.stdout)
    return {h["host"]: (h["state"], h.get("detail") or "") for h in data["hosts"]}


def test_forged_wave_plans_are_refused_before_any_host_is_touched(
    tlab: LabHandle, site: dict[str, Any]
) -> None:
    plan, wp = _plans(tlab, [("nw-hmi-01", "nw-hmi-01"), ("nw-hmi-02", "nw-hmi-02")])
    plan_file, waves_file = _write_signed(site, plan, wp)
    # bypass 1: nw-hmi-02 swapped for nw-scada-a, the hash recomputed with the project's own code
    data = json.loads(waves_file.read_text())
    data["waves"][0]["hosts"][1]["name"] = "nw-scada-a"
    data["assets"][1]["name"] = "nw-scada-a"
    forged = WavePlan.model_validate(data).sealed()
    assert forged.compute_hash() == forged.content_hash  # the forgery is well sealed
    forged_file = site["tmp"] / "forged.json"
    forged_file.write_text(forged.model_dump_json())
    (site["tmp"] / "forged.json.sig").write_text(Path(f"{waves_file}.sig").read_text())
    result = _run(site, forged_file, plan_file, "st-forged")
    assert result.returncode == 5, result.stderr[-2000:]
    assert "safety checks failed; nothing was started" in result.stderr
    assert "signature does not verify for alice in namespace otorch-waveplan" in result.stderr
    print(result.stderr)  # the refusal, for the issue note
    assert _touched(site["tmp"] / "st-forged") == set()
    # a wave plan staged from another (signed) plan
    other = plan.model_copy(update={"warnings": ("another plan",)}).sealed()
    other_file = site["tmp"] / "other-plan.json"
    other_file.write_text(other.model_dump_json())
    sign_file(other_file, site["keys"]["alice"], Kind.PLAN)
    result = _run(site, waves_file, other_file, "st-other")
    assert result.returncode == 5
    assert f"the wave plan was staged from plan {plan.content_hash}, not from this plan" in result.stderr
    print(result.stderr)
    assert _touched(site["tmp"] / "st-other") == set()


def _approve(site: dict[str, Any], signer: str, plan: Plan, key: str | None = None, **over: Any) -> None:
    values: dict[str, Any] = {
        "kind": ApprovalKind.ASSET, "asset": "nw-scada-a", "plan_hash": plan.content_hash,
        "approver": signer, "reason": "failover tested", "valid_from": NOW - timedelta(hours=1),
        "valid_until": NOW + timedelta(hours=8),
    }  # fmt: skip
    values.update(over)
    path = write_statement(ApprovalStatement(**values), site["approvals"])
    sign_file(path, site["keys"][key or signer], Kind.APPROVAL)


def test_approvals_that_do_not_count_refuse_only_their_host(tlab: LabHandle, site: dict[str, Any]) -> None:
    hosts = [("nw-hmi-01", "nw-hmi-01"), ("nw-scada-a", "nw-scada-a"), ("nw-hmi-02", "nw-hmi-02")]
    plan, wp = _plans(tlab, hosts)
    plan_file, waves_file = _write_signed(site, plan, wp)
    _approve(site, "bob", plan, key="mallory")  # unknown key
    _approve(site, "bob", plan, valid_from=NOW - timedelta(days=2), valid_until=NOW - timedelta(days=1))
    _approve(site, "carol", plan)  # the operator approving herself
    _approve(site, "bob", plan, plan_hash="jcs-sha256:" + "9" * 64, valid_from=NOW - timedelta(minutes=5))
    result = _run(site, waves_file, plan_file, "st")
    states = _states(result)
    print(json.dumps(states, indent=1))  # the refusals, for the issue note
    assert states["nw-hmi-01"][0] == states["nw-hmi-02"][0] == "succeeded", result.stderr[-3000:]
    state, detail = states["nw-scada-a"]
    assert state == "skipped" and detail.startswith("authority: refused: high criticality: needs 1 signed")
    for why in (
        "expired",
        "signed by carol, the operator of this run (separation of duties",
        "approves plan jcs-sha256:" + "9" * 64,
        "does not list",
    ):
        assert why in detail, detail
    assert _touched(site["tmp"] / "st") == set(UP)
    trail = list(audit_mod.read_events(site["tmp"] / "st" / "audit.jsonl"))
    checks = {e.host: e for _, e in trail if e.kind == "artifact_recheck"}
    assert checks.keys() == set(UP)
    assert all(e.result == "verified" and e.detail["against"] == "catalog" for e in checks.values())
    results = {e.host: e.result for _, e in trail if e.kind == "authority" and e.host}
    assert results == {"nw-hmi-01": "admitted", "nw-scada-a": "refused", "nw-hmi-02": "admitted"}
    assert result.returncode != 5  # the run ran; only nw-scada-a was refused


def test_renamed_unknown_and_changed_hosts_without_a_trust_file(
    tlab: LabHandle, site: dict[str, Any]
) -> None:
    """Bypasses 1 and 2 without signatures, and an unknown host: each refused from the inventory and
    the catalog; nw-hmi-01 in the same wave runs through."""
    hosts = [("nw-hmi-01", "nw-hmi-01"), ("nw-scada-b", "nw-hmi-02"), ("nw-ghost-01", "nw-hmi-02")]
    _, wp = _plans(tlab, hosts)
    waves_file = site["tmp"] / "resealed.json"
    waves_file.write_text(wp.model_dump_json())
    result = _run(site, waves_file, None, "st-plain")
    states = _states(result)
    print(json.dumps(states, indent=1))
    assert states["nw-hmi-01"][0] == "succeeded", result.stderr[-3000:]
    state, detail = states["nw-scada-b"]
    assert state == "skipped"
    assert "criticality is high in the inventory, low in the wave plan" in detail
    assert "does not run Northwind Controls NWC HMI Runtime, which patch NWC-P-2026-0103 is for" in detail
    state, detail = states["nw-ghost-01"]
    assert state == "skipped" and "not in the inventory" in detail
    assert _touched(site["tmp"] / "st-plain") == {"nw-hmi-01"}
