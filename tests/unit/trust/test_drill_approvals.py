"""`otorch drill` with a trust file: a safety-system host is drilled only on a verified signed drill
approval by someone other than the operator; unsigned approvals are refused (issue 11). Fake backend
(tests/unit/test_drill_cli.py), real ssh-keygen, the lab inventory."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_drill_cli import LAB, SIS, FakeHosts, _approvals_file

from otorchestrator.cli import drill as drill_cli
from otorchestrator.cli.main import cli
from otorchestrator.exitcodes import ExitCode
from otorchestrator.store.audit import read_events
from otorchestrator.trust import sshsig
from otorchestrator.trust.approvals import ApprovalStatement, write_statement
from otorchestrator.trust.signed import Kind, sign_file
from otorchestrator.trust.trustfile import ApprovalKind

NOW = datetime.now(UTC)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.delenv("OTORCH_TRUST_FILE", raising=False)
    keys = {n: tmp_path / "keys" / n for n in ("alice", "bob", "carol", "erin", "mallory")}
    pubs = {n: sshsig.generate_key(k, n) for n, k in keys.items()}
    trust = tmp_path / "trust" / "trust.yml"
    trust.parent.mkdir()
    spec = {
        "identities": {n: pubs[n] for n in ("alice", "bob", "carol", "erin")},
        "planners": ["alice"],
        "operators": ["bob"],
        "approvers": [
            {"principals": ["bob", "carol"], "safety_systems": True, "kinds": ["drill"]},
            {"principals": ["erin"], "safety_systems": False},
        ],
    }
    trust.write_text(yaml.safe_dump(spec))
    os.chmod(trust, 0o644)
    return {"tmp": tmp_path, "keys": keys, "trust": trust}


def _drill(site: dict[str, Any], backend: FakeHosts, *args: str, drill_id: str = "D1") -> Any:
    monkey = pytest.MonkeyPatch()
    monkey.setattr(drill_cli, "make_backend", lambda paths: backend)
    try:
        base = ["drill", "--inventory", str(LAB), "--catalog", str(LAB / "catalog.yml"), "--operator", "bob"]
        base += [
            "--state-dir",
            str(site["tmp"] / "st"),
            "--drill-id",
            drill_id,
            "--trust",
            str(site["trust"]),
        ]
        return CliRunner().invoke(cli, [*base, *SIS, *args])
    finally:
        monkey.undo()


def _sign(site: dict[str, Any], signer: str, key: str | None = None, **over: Any) -> Path:
    values: dict[str, Any] = {
        "kind": ApprovalKind.DRILL, "asset": "nw-sis-01", "approver": signer, "reason": "annual proof test",
        "valid_from": NOW - timedelta(hours=1), "valid_until": NOW + timedelta(hours=8),
    }  # fmt: skip
    values.update(over)
    path = write_statement(ApprovalStatement(**values), site["trust"].parent / "approvals")
    sign_file(path, site["keys"][key or signer], Kind.APPROVAL)
    return path


def test_a_signed_drill_approval_by_someone_else_releases_the_safety_system(site: dict[str, Any]) -> None:
    backend = FakeHosts()
    refused = _drill(site, backend)
    assert refused.exit_code == ExitCode.REFUSED, refused.output
    assert "nw-sis-01 is a safety-system asset and no signed drill approval counts" in refused.output
    assert "otorch approve drill --asset HOST" in refused.output and backend.calls == []

    approve = ["approve", "drill", "--asset", "nw-sis-01", "--approver", "carol", "--reason"]
    approve += ["annual proof test", "--key", str(site["keys"]["carol"]), "--trust", str(site["trust"])]
    made = CliRunner().invoke(cli, approve)
    assert made.exit_code == 0, made.output
    result = _drill(site, backend, drill_id="D2")
    assert result.exit_code == 0, result.output
    events = [e for _, e in read_events(site["tmp"] / "st" / "audit.jsonl") if e.kind == "approval_recorded"]
    (event,) = events
    assert event.host == "nw-sis-01" and event.detail["approved_by"] == "carol"
    assert "[signed: drill-nw-sis-01-carol-" in event.detail["reason"]
    assert event.detail["consulted"][0].startswith("signed approvals ")


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("self", "signed by bob, the operator of this run (separation of duties"),
        ("expired", "expired"),
        ("unknown key", "does not list"),
        ("no safety grant", "erin may not approve drill for safety systems"),
        ("asset kind, not drill", "needs 1 signed drill approval(s)"),
    ],
)
def test_a_drill_approval_that_does_not_count_refuses_before_anything_is_touched(
    site: dict[str, Any], how: str, expected: str
) -> None:
    if how == "self":
        _sign(site, "bob")
    elif how == "expired":
        _sign(site, "carol", valid_from=NOW - timedelta(days=2), valid_until=NOW - timedelta(days=1))
    elif how == "unknown key":
        _sign(site, "carol", key="mallory")
    elif how == "no safety grant":
        _sign(site, "erin")
    else:
        _sign(site, "carol", kind=ApprovalKind.ASSET, plan_hash="jcs-sha256:" + "1" * 64)
    backend = FakeHosts()
    result = _drill(site, backend)
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert expected in result.output
    assert backend.calls == []
    (event,) = [e for _, e in read_events(site["tmp"] / "st" / "audit.jsonl") if e.kind == "drill_refused"]
    assert expected in event.detail["missing"]["nw-sis-01"]


def test_unsigned_approvals_are_refused_under_a_trust_file(site: dict[str, Any]) -> None:
    """Before: an approvals YAML by carol released the drill, whatever the trust file said."""
    unsigned = _approvals_file(site["tmp"], "carol (SIS engineer)")
    backend = FakeHosts()
    result = _drill(site, backend, "--approvals", str(unsigned))
    assert result.exit_code == ExitCode.REFUSED
    assert f"{unsigned}: unsigned approvals are not accepted while the trust file" in result.output
    assert backend.calls == []
