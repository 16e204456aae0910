"""The run report's evidence from a real, demo-like run on the lab: a signed plan and wave plan (lab
trust: planner, approver and operator keys), the real `otorch run` (ansible-runner, SSH, the lab's signed
APT repository), then `otorch report run`. One wave of three hosts, as in `make demo`:

* nw-scada-a (criticality high): admitted by the lab approver's signed asset approval, patched, verified;
* nw-gw-01: the gateway's 1.1.0 breaks its service, verification fails, rolled back;
* nw-hist-01: nearly full /opt/nwc, refused by diagnostics, never installed (blocked, not a failure).

The report must show, from what the roles and the authority recorded: the rollback proof (version,
service, health command, ports and the config file's sha256 equal to the pre-patch backup's, and equal to
the file on the host now), the backup's checksum computed on the controller (equal to the archive in the
backup store), the artifact re-check against the repository's .deb, the approval with its approver and file,
the diagnostics values of the blocked host, and the attempted version of the rolled-back one.

Uses the suite's lab (OTORCH_LAB_NAME); only these three hosts are started.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from _lab import lab_wave_host, require_lab

from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.intake.inventory import load_inventory
from otorchestrator.lab import LabConfig, lifecycle
from otorchestrator.lab.handle import LabHandle
from otorchestrator.models.plan import Decision, Plan, PlanItem
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import Wave, WavePlan
from otorchestrator.reporting.render import junit_schema_path
from otorchestrator.trust.lab import APPROVER, OPERATOR, PLANNER, lab_trust, sign_lab_approvals
from otorchestrator.trust.signed import Kind, sign_file

pytestmark = [pytest.mark.lab, pytest.mark.slow]

UP = ["nw-scada-a", "nw-gw-01", "nw-hist-01"]
PATCH = {"nw-scada-a": "NWC-P-2026-0101", "nw-gw-01": "NWC-P-2026-0104", "nw-hist-01": "NWC-P-2026-0102"}
OTORCH = [str(Path(sys.executable).parent / "otorch")]
GW_CONF = "/etc/nwc/nwc-gateway.conf"


@pytest.fixture(scope="module")
def rlab() -> Iterator[LabHandle]:
    require_lab()
    cfg = LabConfig.from_env()
    lifecycle.up(cfg, names=UP)
    handle = LabHandle.for_config(cfg)
    handle.ensure_baseline(*UP)
    yield handle
    handle.reset(*UP)


def otorch(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for name in ("OTORCH_OPERATOR", "OTORCH_TRUST_FILE", "OTORCH_STATE_DIR"):
        env.pop(name, None)
    return subprocess.run(
        [*OTORCH, *args], capture_output=True, text=True, env=env, timeout=1200, check=False
    )


def _plans(lab: LabHandle, now: datetime) -> tuple[Plan, WavePlan]:
    """A plan (each patch's CVEs from the catalog) and the wave plan staged from it: one wave of UP."""
    assets = load_inventory(lab.inventory).by_name()
    patches = load_catalog_strict(lab.inventory / "catalog.yml").by_id()
    policy = WavePolicy()
    hosts = []
    for name in UP:
        asset, patch = assets[name], patches[PATCH[name]]
        hosts.append(lab_wave_host(name, asset, patch, now, "report lab test", cves=patch.fixes))
    used = tuple(patches[PATCH[n]] for n in UP)
    items = tuple(
        PlanItem(
            asset=n, patch_id=PATCH[n], cves=patches[PATCH[n]].fixes, decision=Decision.SCHEDULED,
            priority_rank=i + 1, in_kev=n == "nw-gw-01",
        )
        for i, n in enumerate(UP)
    )  # fmt: skip
    embedded = tuple(assets[n] for n in UP)
    plan = Plan(created_at=now, assets=embedded, patches=used, items=items).sealed()
    wave = Wave(
        index=0, name="wave-0", kind="wave", slot_start=now, slot_end=now + timedelta(hours=1),
        failure_budget=1, hosts=tuple(hosts),
    )  # fmt: skip
    wp = WavePlan(
        created_at=now, plan_hash=plan.content_hash, policy_hash=policy.compute_hash(), policy=policy,
        inventory=str(lab.inventory), assets=embedded, patches=used, waves=(wave,),
    ).sealed()  # fmt: skip
    return plan, wp


@pytest.fixture(scope="module")
def reported(rlab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo-like run and its report: {"report": the JSON model, "out": dir, "state": dir}."""
    tmp = tmp_path_factory.mktemp("report-lab")
    now = datetime.now(UTC)
    trust = lab_trust(tmp)  # throw-away lab keys under tmp/trust (never the project's .lab)
    plan, wp = _plans(rlab, now)
    plan_file, waves_file = tmp / "plan.json", tmp / "waves.json"
    plan_file.write_text(plan.model_dump_json())
    waves_file.write_text(wp.model_dump_json())
    sign_file(plan_file, trust.keys[PLANNER], Kind.PLAN)
    sign_file(waves_file, trust.keys[PLANNER], Kind.WAVEPLAN)
    approvals = tmp / "approvals"
    signed = sign_lab_approvals(trust, plan, WavePolicy(), approvals, now - timedelta(minutes=5))
    assert [s.asset for s in signed] == ["nw-scada-a"]
    state, out = tmp / "state", tmp / "out"
    run = otorch(
        "run", str(waves_file), "--yes", "--json", "--operator", OPERATOR, "--state-dir", str(state),
        "--trust", str(trust.trust_file), "--plan", str(plan_file), "--key", str(trust.keys[OPERATOR]),
        "--approvals", str(approvals), "--artifacts", str(rlab.cfg.repo_dir / "main"),
        "--catalog", str(rlab.inventory / "catalog.yml"), "-i", str(rlab.inventory),
    )  # fmt: skip
    assert run.returncode == 3, run.stderr[-3000:]  # completed, some host did not succeed
    states = {h["host"]: h["state"] for h in json.loads(run.stdout)["hosts"]}
    assert states == {"nw-scada-a": "succeeded", "nw-gw-01": "rolled_back", "nw-hist-01": "blocked"}, states
    run_id = json.loads(run.stdout)["run"]["run_id"]
    rep = otorch(
        "report", "run", run_id, "--json", "--plan", str(plan_file), "--out-dir", str(out),
        "--state-dir", str(state),
    )  # fmt: skip
    assert rep.returncode == 0, rep.stderr[-3000:]
    return {"report": json.loads(rep.stdout), "out": out, "state": state, "run_id": run_id, "lab": rlab}


def _host(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(h for h in data["report"]["hosts"] if h["host"] == name)


def _section(data: dict[str, Any], host: str, kind: str) -> dict[str, Any]:
    return next(s for s in _host(data, host)["evidence"] if s["kind"] == kind)


def test_the_rollback_proof_of_a_real_rollback(reported: dict[str, Any]) -> None:
    lab: LabHandle = reported["lab"]
    gw = _host(reported, "nw-gw-01")
    assert [c["text"] for c in gw["changes"]] == [
        "nwc-gateway 1.0.0 -> 1.1.0 attempted -> rolled back to 1.0.0"
    ]
    proof = _section(reported, "nw-gw-01", "rollback")
    assert proof["status"] == "passed", proof
    summary = proof["summary"]
    print(f"rollback proof: {summary}")  # for the issue note
    assert summary.startswith("restored from backup ")
    for expected in (
        "nwc-gateway 1.0.0 (ii)",
        "service nwc-gateway running",
        "health command of nwc-gateway exit 0",
        "port 9104 listening",
        "no new listening TCP port",
        "config file(s) sha256 equal to the pre-patch backup's",
    ):
        assert expected in summary, expected
    # the config hash the report shows is the file on the host now, and the backup's
    now = lab.sh("nw-gw-01", f"sha256sum {GW_CONF}").stdout.split()[0]
    config = next(line for line in proof["lines"] if line["name"] == f"config:{GW_CONF}")
    assert config["ok"] and config["text"] == f"{GW_CONF} sha256 {now}, equal to the pre-patch backup's"
    ports = next(line for line in proof["lines"] if line["name"] == "listening_tcp_ports")
    assert ports["ok"] and ports["text"].endswith(", as before the patch")
    verify = _section(reported, "nw-gw-01", "verification")
    assert verify["status"] == "failed" and "nwc-gateway" in verify["summary"]
    # the same proof in every format
    run_id, out = reported["run_id"], reported["out"]
    html = (out / f"run-{run_id}.html").read_text()
    md = (out / f"run-{run_id}.md").read_text()
    junit = (out / f"run-{run_id}.junit.xml").read_text()
    for text in (html, md, junit):
        assert f"{GW_CONF} sha256 {now}, equal to the pre-patch backup" in text
        assert "1.0.0 -&gt; 1.1.0 attempted -&gt; rolled back to 1.0.0" in text or (
            "1.0.0 -> 1.1.0 attempted -> rolled back to 1.0.0" in text
        )
    xmlschema.XMLSchema(junit_schema_path()).validate(junit)
    root = ET.fromstring(junit)
    assert root.get("failures") == "1"  # the gateway's verification; the blocked historian is no failure


def test_backup_artifact_and_approval_evidence_of_the_run(reported: dict[str, Any]) -> None:
    lab: LabHandle = reported["lab"]
    backup = _section(reported, "nw-gw-01", "backup")
    found = re.fullmatch(
        r"backup (\S+): archive sha256 ([0-9a-f]{64}) computed on the controller, equal to the host's",
        backup["summary"],
    )
    assert backup["status"] == "passed" and found, backup["summary"]
    backup_id, sha = found.groups()
    archive = reported["state"] / "backups" / backup_id / "nw-gw-01.tar.gz"
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == sha  # the stored archive itself
    artifact = _section(reported, "nw-gw-01", "artifact")
    assert artifact["status"] == "passed", artifact
    deb = next((lab.cfg.repo_dir / "main").glob("nwc-gateway_1.1.0_*.deb"))
    deb_sha = hashlib.sha256(deb.read_bytes()).hexdigest()
    assert f"sha256 {deb_sha}, equal to the catalog's" in artifact["lines"][0]["text"]
    approval = _section(reported, "nw-scada-a", "approvals")
    assert approval["status"] == "passed", approval
    assert approval["summary"].startswith(f"approved by {APPROVER} (asset); signatures verified when")
    assert ".approval.json (sha256 " in approval["lines"][-1]["text"]
    assert _section(reported, "nw-gw-01", "approvals")["status"] == "not_needed"
    scada = _host(reported, "nw-scada-a")
    assert {c["cve"] for c in scada["cves"]} == {"CVE-2026-90101", "CVE-2026-90102"}
    assert {c["status"] for c in scada["cves"]} == {"fixed (installed and verified)"}


def test_the_blocked_host_with_its_diagnostics_values(reported: dict[str, Any]) -> None:
    data = reported["report"]
    assert [f["host"] for f in data["failures"]] == ["nw-gw-01"]
    assert [f["host"] for f in data["refusals"]] == ["nw-hist-01"]
    diag = _section(reported, "nw-hist-01", "diagnostics")
    print(f"blocked: {diag['summary']}")
    assert diag["status"] == "failed"
    assert re.search(
        r"refused the host before any change: \d+ MiB free on \S+, needs \d+ MiB", diag["summary"]
    )
    assert _host(reported, "nw-hist-01")["changes"][0]["text"].endswith(
        "1.1.0 not installed (refused by diagnostics)"
    )
