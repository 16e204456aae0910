"""`otorch sign`, `otorch verify`, `otorch approve` with the real ssh-keygen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from otorchestrator.cli.main import cli
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.plan import Plan
from otorchestrator.trust import sshsig
from otorchestrator.trust.approvals import read_approvals
from otorchestrator.trust.trustfile import load_trust


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output + (result.stderr or "")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("OTORCH_TRUST_FILE", raising=False)
    monkeypatch.delenv("OTORCH_SIGNING_KEY", raising=False)
    keys = {n: sshsig.generate_key(tmp_path / n, n) for n in ("alice", "bob")}
    trust = tmp_path / "trust.yml"
    spec = {"identities": keys, "planners": ["alice"], "approvers": [{"principals": ["bob"]}]}
    trust.write_text(yaml.safe_dump(spec))
    os.chmod(trust, 0o644)
    plan = Plan(created_at="2026-12-02T00:00:00+00:00", assets=(), patches=(), items=()).sealed()
    (tmp_path / "plan.json").write_text(plan.model_dump_json())
    return tmp_path


def test_sign_then_verify_and_tamper(site: Path) -> None:
    plan, trust = str(site / "plan.json"), str(site / "trust.yml")
    assert _invoke("verify", plan, "--trust", trust)[0] == ExitCode.INTEGRITY
    code, out = _invoke("sign", plan, "--key", str(site / "bob"))
    assert code == 0 and "signed as plan" in out
    code, out = _invoke("verify", plan, "--trust", trust)
    assert code == ExitCode.INTEGRITY and "not a planner" in out
    assert _invoke("sign", plan, "--key", str(site / "alice"))[0] == 0
    code, out = _invoke("verify", plan, "--trust", trust)
    assert code == 0 and "good plan signature by alice" in out
    (site / "plan.json").write_text((site / "plan.json").read_text().replace("[]", "[ ]", 1))
    code, out = _invoke("verify", plan, "--trust", trust)
    assert code == ExitCode.INTEGRITY and "does not verify" in out
    code, out = _invoke("verify", plan, "--trust", trust, "--kind", "waveplan")
    assert code == ExitCode.INTEGRITY


def test_approve_writes_a_signed_statement(site: Path) -> None:
    trust = str(site / "trust.yml")
    code, out = _invoke(
        "approve", "asset", "--asset", "nw-scada-a", "--plan", str(site / "plan.json"), "--approver", "bob",
        "--reason", "failover tested", "--key", str(site / "bob"), "--trust", trust,
    )  # fmt: skip
    assert code == 0, out
    good, bad = read_approvals(site / "approvals", load_trust(site / "trust.yml"))
    assert bad == () and [a.signer for a in good] == ["bob"]
    assert (
        good[0].statement.plan_hash == Plan.model_validate_json((site / "plan.json").read_text()).content_hash
    )
    code, out = _invoke(
        "approve", "asset", "--asset", "nw-scada-a", "--approver", "bob", "--reason", "x",
        "--key", str(site / "bob"), "--trust", trust,
    )  # fmt: skip
    assert code == 2 and "plan_hash" in out


def test_group_writable_trust_file_is_refused(site: Path) -> None:
    os.chmod(site / "trust.yml", 0o664)
    code, out = _invoke("verify", str(site / "plan.json"), "--trust", str(site / "trust.yml"))
    assert code == ExitCode.INTEGRITY and "writable by group or others" in out
