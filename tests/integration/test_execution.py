"""The wave execution engine against real lab hosts: real ansible-runner, real playbooks, real SSH.

Runs on its own lab instance (``otexec``, or ``<OTORCH_LAB_NAME>x``; ports shifted by 400 more) so no
other lab is touched; each test resets the hosts it uses before and after. Scenarios are combined into few
runs (2-core machine):

* one two-wave run: clean install, verify failure -> rollback to baseline, install failure -> rollback,
  diagnostics failure -> never installed, a stopped container -> unreachable, the failure budget spent ->
  the later wave never starts; a canary secret passed with --secret-var is nowhere on disk; the audit chain
  verifies and every kind of tampering is detected;
* kill -9 of `otorch run` mid-install, a concurrent `otorch run` refused naming the holder, then
  `otorch resume`: no host installed twice (audit log and the host's dpkg log);
* `--check`: the whole chain in check mode changes nothing.

`OTORCH_IT_TRANSPORT=mitogen` runs all of it on the Mitogen transport (default ssh); every job's recorded
environment is checked to have used the transport asked for.
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

from otorchestrator.execution.orphans import run_processes
from otorchestrator.intake.catalog import load_catalog_strict
from otorchestrator.intake.inventory import load_inventory
from otorchestrator.lab import LabConfig, lifecycle
from otorchestrator.lab.handle import LabHandle, lab_unavailable_reason
from otorchestrator.models.plan import Approval, Decision
from otorchestrator.models.policy import WavePolicy
from otorchestrator.models.waves import Rule, Wave, WaveHost, WaveItem, WavePlan
from otorchestrator.store import audit as audit_mod

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# this module's own lab instance, derived from the suite's (OTORCH_LAB_NAME / OTORCH_LAB_PORT_OFFSET), so two
# suites running side by side (e.g. otlabtest and another) never share or collide on it
# (the default suite keeps the instance's historic name "otexec", so a leftover from an earlier run is reused,
# not left holding the ports)
_BASE_LAB = os.environ.get("OTORCH_LAB_NAME") or ""
LAB_NAME = "otexec" if not _BASE_LAB else _BASE_LAB[:30] + ("y" if _BASE_LAB.endswith("x") else "x")
PORT_OFFSET = int(os.environ.get("OTORCH_LAB_PORT_OFFSET") or 0) + 400
TRANSPORT = os.environ.get("OTORCH_IT_TRANSPORT") or "ssh"  # every otorch run/resume here uses it
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
VAULT_CANARY = "CANARY-vault-3c8e0a41"  # a vaulted inventory variable that every ssh connection uses
VAULT_PASSWORD = "vault-pw-it-only"
PROJECT = Path(__file__).resolve().parents[2]


def vaulted_inventory(lab: LabHandle, where: Path) -> tuple[Path, Path]:
    """A copy of the lab inventory with a vaulted variable that Ansible must decrypt to connect (it goes
    into ``ansible_ssh_extra_args`` as an ssh SetEnv, which the lab's sshd ignores): (inventory, password
    file). The copy keeps ``{{ inventory_dir }}/../../.lab`` pointing at the project's lab keys."""
    root = where / "proj"
    inventory = root / "inventories" / "lab"
    shutil.copytree(lab.inventory, inventory)
    (root / ".lab").symlink_to(PROJECT / ".lab")
    password_file = where / "vault.pw"
    password_file.write_text(VAULT_PASSWORD + "\n")
    password_file.chmod(0o600)
    encrypted = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-vault"), "encrypt_string", "--vault-password-file",
         str(password_file), VAULT_CANARY, "--name", "otx_vault_canary"],
        capture_output=True, text=True, check=True, env=_env(),
    ).stdout  # fmt: skip
    (inventory / "group_vars" / "all" / "vault_canary.yml").write_text(
        encrypted + 'ansible_ssh_extra_args: "-o SetEnv=OTX_CANARY={{ otx_vault_canary }}"\n'
    )
    return inventory, password_file


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
        OTORCH_TRANSPORT=TRANSPORT,
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


def assert_transport(state: Path) -> None:
    """Every job of the run used TRANSPORT (ansible-runner records each job's environment)."""
    jobs = sorted((state / "runner").rglob("artifacts/run/command"))
    strategies = {json.loads(f.read_text())["env"].get("ANSIBLE_STRATEGY") for f in jobs}
    assert jobs and strategies == ({"mitogen_linear"} if TRANSPORT == "mitogen" else {None}), strategies


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
        inventory, vault_pw = vaulted_inventory(xlab, tmp_path)
        result = otorch(
            "run", str(plan_file), "--yes", "--json", "--operator", "it-ops", "--state-dir", str(state),
            "--secret-var", "otorch_canary_secret", "--artifacts", str(xlab.cfg.repo_dir / "main"),
            "-i", str(inventory),
            env=_env(otorch_canary_secret=CANARY, ANSIBLE_VAULT_PASSWORD_FILE=str(vault_pw)),
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

        assert_transport(state)
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

        # task results were streamed into the store while the playbooks ran (names and statuses only)
        with sqlite3.connect(state / "state.db") as conn:
            rows = conn.execute("SELECT host, phase, task, status, changed FROM task_events").fetchall()
            waves = conn.execute(
                "SELECT wave, outcome, budget, started_at IS NOT NULL, finished_at IS NOT NULL FROM waves"
                " ORDER BY id"
            ).fetchall()
        phases_seen = {(h, ph) for h, ph, _, _, _ in rows}
        for phase in ("diagnostics", "backup", "install", "verify"):
            assert ("nw-hmi-01", phase) in phases_seen, phase
        assert ("nw-gw-01", "rollback") in phases_seen and ("nw-ews-01", "rollback") in phases_seen
        assert ("nw-hist-01", "install") not in phases_seen
        assert any(h == "nw-hmi-01" and ph == "install" and changed for h, ph, _, _, changed in rows)
        assert any(h == "nw-hmi-02" and st == "unreachable" for h, _, _, st, _ in rows)
        assert {st for *_, st, _ in rows} <= {"ok", "failed", "unreachable", "skipped", "timed_out"}
        # the waves: wave 0 ran and halted, wave 1 never started
        assert waves == [(0, "halted", 2, 1, 1), (1, "halted", 2, 0, 0)]
        assert [(e.kind, e.wave) for e in trail if e.kind.startswith("wave_")] == [
            ("wave_started", 0), ("wave_halted", 0), ("wave_halted", 1)
        ]  # fmt: skip

        # the canary secrets (an extra var and a vaulted inventory variable every connection used) are
        # nowhere: store, audit, runner artifacts, backups, output
        for canary in (CANARY, VAULT_CANARY):
            assert canary not in result.stdout + result.stderr
            leaks = [p for p in state.rglob("*") if p.is_file() and canary.encode() in p.read_bytes()]
            assert leaks == [], canary
        # and the secret file the extra var went through (RAM) is gone
        assert not [p for p in Path("/dev/shm").glob("otorch-secrets-*") if str(os.getpid()) in p.name]

        # an operator rollback of the succeeded host: back at its baseline, and the patch history no
        # longer says it is patched (what compliance and dependency checks read)
        run_id = data["run"]["run_id"]
        rolled = otorch(
            "rollback", run_id, "--host", "nw-hmi-01", "--yes", "--json", "--operator", "it-ops",
            "--state-dir", str(state), "-i", str(inventory),
            env=_env(ANSIBLE_VAULT_PASSWORD_FILE=str(vault_pw)),
        )  # fmt: skip
        assert rolled.returncode == 0, rolled.stderr[-3000:]
        assert version(xlab, "nw-hmi-01") == "1.0.0" and healthy(xlab, "nw-hmi-01")
        with sqlite3.connect(state / "state.db") as conn:
            history = conn.execute(
                "SELECT asset, reversed_by_run FROM installed_patches WHERE reversed_at IS NOT NULL"
            ).fetchall()
        assert history == [("nw-hmi-01", run_id)]
        from otorchestrator.store.state import StateStore

        with StateStore(state / "state.db") as store:
            assert store.patch_history("nw-hmi-01") == []
        trail = events(state)
        assert [e.host for e in trail if e.kind == "patch_reversed"] == ["nw-hmi-01"]

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
    """Hosts flowing (each its own jobs), `otorch run` killed with SIGKILL while apt runs: resume ends
    the jobs the dead run left behind (grace, then signals; nobody kills them by hand), re-probes, and
    rolls back nw-gw-01, whose 1.1.0 breaks its service."""
    hosts = ["nw-hmi-01", "nw-hmi-02", "nw-gw-01"]
    _reset(xlab, hosts)
    try:
        plan_file = tmp_path / "waves.json"
        plan_file.write_text(waveplan(xlab, [hosts], budget=1).model_dump_json())
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
            "resume", run_id, "--yes", "--json", "--operator", "second-op", "--state-dir", str(state),
            env=_env(OTORCH_ORPHAN_GRACE_S="5"),
        )  # fmt: skip
        assert resumed.returncode == 3, resumed.stderr[-3000:]  # completed, nw-gw-01 did not succeed
        assert run_processes(run_id) == []  # nothing carrying the dead run's OTORCH_RUN_ID is left
        data = json.loads(resumed.stdout)
        assert {h["host"]: h["state"] for h in data["hosts"]} == {
            "nw-hmi-01": "succeeded", "nw-hmi-02": "succeeded", "nw-gw-01": "rolled_back",
        }  # fmt: skip
        assert version(xlab, "nw-gw-01") == "1.0.0" and healthy(xlab, "nw-gw-01")
        assert_transport(state)
        trail = events(state)
        assert [e.host for e in trail if e.kind == "patch_installed"].count("nw-gw-01") == 0
        for host in hosts[:2]:
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
    plan_file.write_text(waveplan(xlab, [[host]], budget=1).model_dump_json())
    snapshot = "dpkg -l | sha256sum; sha256sum /etc/nwc/*.conf; ls -R /var/backups 2>&1 | sha256sum"
    before = xlab.sh(host, snapshot).stdout
    state = tmp_path / "state"
    result = otorch(
        "run", str(plan_file), "--check", "--yes", "--json", "--operator", "it-ops", "--state-dir",
        str(state),
    )  # fmt: skip
    data = json.loads(result.stdout)
    assert data["run"]["check_mode"] is True
    # every phase of the chain ran on the host, each in check mode, and no rollback was attempted
    trail = events(state)
    started = [(str(e.phase), e.detail["check_mode"]) for e in trail if e.kind == "phase_started"]
    assert started == [(p, True) for p in ("diagnostics", "backup", "install", "verify")], started
    assert all(e.detail["hosts"] == [host] for e in trail if e.kind == "phase_started")
    with sqlite3.connect(state / "state.db") as conn:
        path = [
            r[0] for r in conn.execute("SELECT to_state FROM transitions WHERE host = ? ORDER BY id", (host,))
        ]
        assert conn.execute("SELECT count(*) FROM installed_patches").fetchone()[0] == 0
        phases = {r[0] for r in conn.execute("SELECT phase FROM task_events WHERE host = ?", (host,))}
    assert path[:5] == ["pending", "diagnosing", "backing_up", "installing", "verifying"], path
    assert phases == {"diagnostics", "backup", "install", "verify"}
    commands = sorted((state / "runner").rglob("artifacts/run/command"))
    assert len(commands) == 4 and all("--check" in f.read_text() for f in commands)
    assert_transport(state)
    # nothing changed on the host: packages, configs, backups left on it, version, health, dpkg log
    assert xlab.sh(host, snapshot).stdout == before
    assert version(xlab, host) == "1.0.0"
    assert upgrades(xlab, host) == 0 and healthy(xlab, host)
    assert [e for e in trail if e.kind == "patch_installed"] == []
    final = {h["host"]: h for h in data["hosts"]}[host]
    assert result.returncode == 0, result.stderr[-3000:]
    assert final["state"] == "succeeded" and path[-1] == "succeeded"
