"""The wave execution engine against real lab hosts: real ansible-runner, real playbooks, real SSH.

Runs on its own lab instance (``otexec``, ports shifted by 400) so the shared default lab is never touched;
each test resets the hosts it uses before and after. Scenarios are combined into few runs (2-core machine):

* one two-wave run: clean install, verify failure -> rollback to baseline, install failure -> rollback,
  diagnostics failure -> never installed, a stopped container -> unreachable, the failure budget spent ->
  the later wave never starts; a canary secret passed with --secret-var is nowhere on disk; the audit chain
  verifies and every kind of tampering is detected;
* kill -9 of `otorch run` mid-install, a concurrent `otorch run` refused naming the holder, then
  `otorch resume`: no host installed twice (audit log and the host's dpkg log);
* `--check`: the whole chain in check mode changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.intake.inventory import load_inventory
from otorchestrator.lab import LabConfig, lifecycle
from otorchestrator.lab.handle import LabHandle, lab_unavailable_reason
from otorchestrator.models.plan import Approval, Decision
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import Rule, Wave, WaveHost, WaveItem, WavePlan
from otorchestrator.store import audit as audit_mod

pytestmark = [pytest.mark.lab, pytest.mark.slow]

LAB_NAME = "otexec"
PORT_OFFSET = 400
HOSTS = ["nw-scada-a", "nw-hist-01", "nw-hmi-01", "nw-hmi-02", "nw-ews-01", "nw-gw-01"]
PATCH = {  # host -> the catalog patch it gets in these tests
    "nw-scada-a": "NWC-P-2026-0101",
    "nw-hist-01": "NWC-P-2026-0102",
    "nw-hmi-01": "NWC-P-2026-0103",
    "nw-hmi-02": "NWC-P-2026-0103",
    "nw-ews-01": "NWC-P-2026-0105",
    "nw-gw-01": "NWC-P-2026-0104",
}
PACKAGE = {
    "nw-scada-a": "nwc-scada-server",
    "nw-hist-01": "nwc-historian",
    "nw-hmi-01": "nwc-hmi-runtime",
    "nw-hmi-02": "nwc-hmi-runtime",
    "nw-ews-01": "nwc-eng-suite",
    "nw-gw-01": "nwc-gateway",
}
CANARY = "CANARY-otx-5d1e9b7c"
OTORCH = [str(Path(sys.executable).parent / "otorch")]


@pytest.fixture(scope="module")
def xlab() -> Iterator[LabHandle]:
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    cfg = LabConfig.from_env({"OTORCH_LAB_NAME": LAB_NAME, "OTORCH_LAB_PORT_OFFSET": str(PORT_OFFSET)})
    lifecycle.up(cfg, names=HOSTS)
    handle = LabHandle.for_config(cfg)
    handle.hosts = list(HOSTS)
    yield handle


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OTORCH_LAB_NAME=LAB_NAME,
        OTORCH_LAB_PORT_OFFSET=str(PORT_OFFSET),
        ANSIBLE_COLLECTIONS_PATH=str(Path(__file__).resolve().parents[2] / ".collections"),
        **extra,
    )
    env.pop("OTORCH_OPERATOR", None)
    return env


def _reset(lab: LabHandle, hosts: Sequence[str]) -> None:
    for host in hosts:
        subprocess.run(["podman", "start", lab.container(host)], capture_output=True, check=False)
    lab.reset(*hosts)


def waveplan(lab: LabHandle, waves: Sequence[Sequence[str]], budget: int) -> WavePlan:
    """A sealed wave plan over lab hosts, built directly (independent of the planner's policy)."""
    now = datetime.now(UTC)
    assets = load_inventory(lab.inventory).by_name()
    patches = load_catalog_strict(lab.inventory / "catalog.yml").by_id()
    policy = WavePolicy()
    used = sorted({h for wave in waves for h in wave})
    built = []
    for index, names in enumerate(waves):
        hosts = []
        for name in names:
            asset, patch = assets[name], patches[PATCH[name]]
            approval = None
            if policy.needs_approval(asset.criticality, asset.safety_system):
                approval = Approval(kind="asset", subject=name, approved_by="it-test", reason="lab", at=now)
            hosts.append(
                WaveHost(
                    name=name,
                    zone=asset.zone,
                    purdue_level=asset.purdue_level,
                    role=asset.role,
                    criticality=asset.criticality,
                    safety_system=asset.safety_system,
                    redundancy_group=asset.redundancy_group,
                    items=(WaveItem(patch_id=patch.id, priority_rank=1, decision=Decision.SCHEDULED),),
                    duration_minutes=patch.expected_duration_minutes,
                    rollback_minutes=patch.rollback_minutes,
                    window_start=now - timedelta(hours=1),
                    window_end=now + timedelta(hours=20),
                    latest_start=now + timedelta(hours=19),
                    approval=approval,
                    placement_rule=Rule.RISK_ORDER,
                    placement_reason="integration test",
                )
            )
        built.append(
            Wave(
                index=index,
                name=f"wave-{index}",
                kind="wave",
                slot_start=now,
                slot_end=now + timedelta(hours=1),
                failure_budget=budget,
                hosts=tuple(hosts),
            )
        )
    return WavePlan(
        created_at=now,
        plan_hash="sha256:" + "0" * 64,
        policy_hash=policy.compute_hash(),
        policy=policy,
        inventory=str(lab.inventory),
        assets=tuple(assets[h] for h in used),
        patches=tuple({PATCH[h]: patches[PATCH[h]] for h in used}.values()),
        waves=tuple(built),
    ).sealed()


def otorch(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OTORCH, *args], capture_output=True, text=True, env=env or _env(), timeout=timeout, check=False
    )


def version(lab: LabHandle, host: str) -> str:
    return lab.sh(host, f"dpkg-query -W -f='${{Version}}' {PACKAGE[host]}").stdout.strip()


def healthy(lab: LabHandle, host: str) -> bool:
    return lab.sh(host, f"/usr/bin/{PACKAGE[host]}-health", check=False).returncode == 0


def upgrades(lab: LabHandle, host: str) -> int:
    out = lab.sh(host, f"grep -c ' upgrade {PACKAGE[host]}' /var/log/dpkg.log || true", check=False)
    return int(out.stdout.strip() or 0)


def events(state: Path) -> list[Any]:
    return [e for _, e in audit_mod.read_events(state / "audit.jsonl")]


def test_wave_outcomes_budget_secrets_and_audit(xlab: LabHandle, tmp_path: Path) -> None:
    hosts = ["nw-hmi-01", "nw-gw-01", "nw-hist-01", "nw-ews-01", "nw-hmi-02", "nw-scada-a"]
    _reset(xlab, hosts)
    try:
        plan = waveplan(xlab, [hosts[:5], ["nw-scada-a"]], budget=2)
        plan_file = tmp_path / "waves.json"
        plan_file.write_text(plan.model_dump_json())
        baseline_conf = xlab.sh("nw-gw-01", "sha256sum /etc/nwc/nwc-gateway.conf").stdout
        subprocess.run(
            ["podman", "stop", "-t", "2", xlab.container("nw-hmi-02")], check=True, capture_output=True
        )
        state = tmp_path / "state"
        result = otorch(
            "run", str(plan_file), "--yes", "--json", "--operator", "it-ops", "--state-dir", str(state),
            "--secret-var", "otorch_canary_secret", "--artifacts", str(xlab.cfg.repo_dir / "main"),
            env=_env(otorch_canary_secret=CANARY),
        )  # fmt: skip
        assert result.returncode == 4, result.stderr[-3000:]  # halted: the budget of wave 0 is spent
        data = json.loads(result.stdout)
        got = {h["host"]: h["state"] for h in data["hosts"]}
        assert got == {
            "nw-hmi-01": "succeeded",  # the happy path
            "nw-gw-01": "rolled_back",  # 1.1.0 breaks its service: verify fails, rolled back
            "nw-hist-01": "blocked",  # nearly full disk: diagnostics fail, never installed
            "nw-ews-01": "rolled_back",  # 1.1.0's postinst fails: install fails, rolled back
            "nw-hmi-02": "unreachable",  # stopped container
            "nw-scada-a": "skipped",  # wave 1 never starts: 3 failures > budget 2
        }, data["hosts"]
        assert data["run"]["status"] == "halted" and "budget" in data["run"]["status_detail"]

        # on the hosts themselves
        assert version(xlab, "nw-hmi-01") == "1.1.0" and healthy(xlab, "nw-hmi-01")
        assert version(xlab, "nw-gw-01") == "1.0.0" and healthy(xlab, "nw-gw-01")
        assert xlab.sh("nw-gw-01", "sha256sum /etc/nwc/nwc-gateway.conf").stdout == baseline_conf
        assert version(xlab, "nw-ews-01") == "1.0.0" and healthy(xlab, "nw-ews-01")
        assert version(xlab, "nw-hist-01") == "1.0.0" and upgrades(xlab, "nw-hist-01") == 0
        assert version(xlab, "nw-scada-a") == "1.0.0"

        # from the audit log: which hosts each phase touched
        trail = events(state)
        touched: dict[str, set[str]] = {}
        for event in trail:
            if event.kind == "phase_started":
                touched.setdefault(str(event.phase), set()).update(event.detail["hosts"])
        assert "nw-hist-01" not in touched["install"] | touched["backup"]
        assert "nw-scada-a" not in set().union(*touched.values())
        assert [e.host for e in trail if e.kind == "patch_installed"] == ["nw-hmi-01"]
        assert all(e.operator == "it-ops" for e in trail)

        # the canary secret is nowhere: store, audit, runner artifacts, backups, output
        assert CANARY not in result.stdout + result.stderr
        leaks = [p for p in state.rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]
        assert leaks == []

        # the audit chain verifies; modified, deleted, reordered and truncated records are detected
        assert otorch("audit", "verify", "--state-dir", str(state)).returncode == 0
        lines = (state / "audit.jsonl").read_text().splitlines(keepends=True)
        tampered = {
            "modified": lambda ls: [ls[0].replace("it-ops", "mallory"), *ls[1:]],
            "deleted": lambda ls: ls[:3] + ls[4:],
            "reordered": lambda ls: [ls[1], ls[0], *ls[2:]],
            "truncated": lambda ls: ls[:-2],
        }
        for what, change in tampered.items():
            copy = tmp_path / f"tampered-{what}"
            shutil.copytree(state, copy, ignore=shutil.ignore_patterns("runner", "backups"))
            (copy / "audit.jsonl").write_text("".join(change(lines)))
            check = otorch("audit", "verify", "--state-dir", str(copy))
            assert check.returncode != 0, f"{what} not detected"
    finally:
        _reset(xlab, hosts)


def _states(db: Path) -> dict[str, str]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return dict(conn.execute("SELECT host, state FROM host_states").fetchall())
    except sqlite3.Error:
        return {}


def test_kill9_mid_install_then_resume_installs_once(xlab: LabHandle, tmp_path: Path) -> None:
    hosts = ["nw-hmi-01", "nw-hmi-02"]
    _reset(xlab, hosts)
    try:
        plan_file = tmp_path / "waves.json"
        plan_file.write_text(waveplan(xlab, [hosts], budget=0).model_dump_json())
        state = tmp_path / "state"
        args = ["run", str(plan_file), "--yes", "--json", "--state-dir", str(state)]
        proc = subprocess.Popen(
            [*OTORCH, *args, "--operator", "first-op"], env=_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=False,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        refused_checked = False
        while time.monotonic() < deadline and "installing" not in _states(state / "state.db").values():
            if not refused_checked and _states(state / "state.db"):
                second = otorch(*args, "--operator", "second-op")  # a concurrent run on the same store
                assert second.returncode == 5, second.stderr
                assert "operator first-op" in second.stderr and "since" in second.stderr
                refused_checked = True
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        assert refused_checked
        time.sleep(3)  # apt is under way on the hosts
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert set(_states(state / "state.db").values()) & {"installing", "verifying"}, "crash point missed"

        run_id = json.loads(
            otorch("status", "--json", "--state-dir", str(state)).stdout
        )["run"]["run_id"]  # fmt: skip
        resumed = otorch(
            "resume", run_id, "--yes", "--json", "--operator", "second-op", "--state-dir", str(state)
        )
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        data = json.loads(resumed.stdout)
        assert {h["host"]: h["state"] for h in data["hosts"]} == {h: "succeeded" for h in hosts}
        trail = events(state)
        for host in hosts:
            assert version(xlab, host) == "1.1.0" and healthy(xlab, host)
            assert upgrades(xlab, host) == 1, f"{host} upgraded {upgrades(xlab, host)} times"
            assert [e.host for e in trail if e.kind == "patch_installed"].count(host) == 1
        kinds = [e.kind for e in trail]
        assert "run_resumed" in kinds
        assert any(e.kind == "transition" and e.result == "needs_reconcile" for e in trail)
        assert otorch("audit", "verify", "--state-dir", str(state)).returncode == 0
    finally:
        _reset(xlab, hosts)


def test_check_mode_changes_nothing(xlab: LabHandle, tmp_path: Path) -> None:
    host = "nw-hmi-01"
    _reset(xlab, [host])
    plan_file = tmp_path / "waves.json"
    plan_file.write_text(waveplan(xlab, [[host]], budget=0).model_dump_json())
    before = xlab.sh(host, "dpkg -l | sha256sum; sha256sum /etc/nwc/*.conf").stdout
    result = otorch(
        "run", str(plan_file), "--check", "--yes", "--json", "--operator", "it-ops", "--state-dir",
        str(tmp_path / "state"),
    )  # fmt: skip
    data = json.loads(result.stdout)
    assert data["run"]["check_mode"] is True
    assert xlab.sh(host, "dpkg -l | sha256sum; sha256sum /etc/nwc/*.conf").stdout == before
    assert upgrades(xlab, host) == 0 and healthy(xlab, host)
    with sqlite3.connect(tmp_path / "state" / "state.db") as conn:
        assert conn.execute("SELECT count(*) FROM installed_patches").fetchone()[0] == 0
