"""Signed audit checkpoints (real ssh-keygen): a consistently rewritten log with a moved head is caught."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from otorchestrator.models.run import AuditEvent, AuditHead, AuditKind
from otorchestrator.store.audit import AuditLog, event_hash, record_text, verify
from otorchestrator.store.checkpoints import (
    CHECKPOINT_KIND,
    NAMESPACE,
    CheckpointError,
    CheckpointSink,
    check_key_location,
    verify_checkpoints,
)
from otorchestrator.store.errors import AuditUnavailable
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.state import StateStore
from otorchestrator.trust import sshsig
from otorchestrator.trust.trustfile import SiteTrust, load_trust

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("auditor", "mallory", "planner"):
        sshsig.generate_key(root / name, f"{name}@test")
        out[name] = root / name
    return out


def trust_file(tmp_path: Path, keys: dict[str, Path], audit_signers: list[str] | None = None) -> SiteTrust:
    spec: dict[str, Any] = {
        "schema_version": 1,
        "identities": {
            name: sshsig.public_key_line(Path(f"{keys[name]}.pub")) for name in ("auditor", "planner")
        },
        "planners": ["planner"],
        "audit_signers": audit_signers or [],
    }
    path = tmp_path / "trust.yml"
    path.write_text(yaml.safe_dump(spec))
    path.chmod(0o644)
    return load_trust(path)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[tuple[StatePaths, StateStore]]:
    paths = StatePaths(tmp_path / "state").ensure()
    with StateStore(paths.db) as store:
        yield paths, store


def ev(i: int, kind: str, **fields: Any) -> AuditEvent:
    return AuditEvent(at=T0 + timedelta(seconds=i), operator="carol", kind=kind, run_id="run-1", **fields)


def write_run(log: AuditLog) -> None:
    log.append(ev(1, AuditKind.RUN_STARTED, result="running"))
    log.append(ev(2, AuditKind.TRANSITION, host="hmi-01", wave=0, result="diagnosing"))
    log.append(ev(3, AuditKind.PHASE_RESULT, host="hmi-01", wave=0, result="failed"))
    log.append(ev(4, "wave_finished", wave=0, result="completed"))
    log.append(ev(5, AuditKind.RUN_STATUS, result="completed"))


def rewrite(
    path: Path, store: StateStore, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
) -> None:
    """What an attacker with write access to the state dir does: edit, renumber, recompute every hash,
    move the store's head. The chain then verifies."""
    records = change([json.loads(line) for line in path.read_text().splitlines()])
    prev = "sha256:" + "0" * 64
    out = []
    for seq, record in enumerate(records, start=1):
        body = {k: v for k, v in record.items() if k != "hash"}
        body["seq"], body["prev_hash"] = seq, prev
        record = {**body, "hash": event_hash(prev, body)}
        out.append(record_text(record) + "\n")
        prev = record["hash"]
    path.write_text("".join(out))
    with sqlite3.connect(store.path) as conn:  # as sqlite3(1) would: no rule of the store stops it
        conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (len(records), prev))
    assert store.audit_head() == AuditHead(seq=len(records), hash=prev)


def test_checkpoints_at_run_start_wave_end_and_run_end(
    state: tuple[StatePaths, StateStore], keys: dict[str, Path], tmp_path: Path
) -> None:
    paths, store = state
    log = AuditLog(paths.audit, head_store=store, sinks=[CheckpointSink(keys["auditor"], "auditor")])
    write_run(log)
    records = [json.loads(line) for line in paths.audit.read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds == [
        "run_started", CHECKPOINT_KIND, "transition", "phase_result",
        "wave_finished", CHECKPOINT_KIND, "run_status", CHECKPOINT_KIND,
    ]  # fmt: skip
    statement = records[1]["detail"]["statement"]
    assert (statement["seq"], statement["head"], statement["point"]) == (1, records[0]["hash"], "run_start")
    assert [r["detail"]["statement"]["point"] for r in records if r["kind"] == CHECKPOINT_KIND] == [
        "run_start", "wave_end", "run_end"
    ]  # fmt: skip
    assert verify(paths.audit, store.audit_head()).ok
    report = verify_checkpoints(paths.audit, trust_file(tmp_path, keys, ["auditor"]), require=True)
    assert report.ok, report.problems
    assert (report.found, report.verified, report.covered_seq, report.signers) == (3, 3, 7, ("auditor",))


def test_rewritten_log_with_recomputed_chain_and_moved_head_is_detected(
    state: tuple[StatePaths, StateStore], keys: dict[str, Path], tmp_path: Path
) -> None:
    paths, store = state
    log = AuditLog(paths.audit, head_store=store, sinks=[CheckpointSink(keys["auditor"], "auditor")])
    write_run(log)

    def failed_to_ok(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for r in records:
            if r["kind"] == "phase_result":
                r["result"] = "ok"
        return records

    rewrite(paths.audit, store, failed_to_ok)
    assert verify(paths.audit, store.audit_head()).ok  # the hash chain alone is fooled
    report = verify_checkpoints(paths.audit, trust_file(tmp_path, keys))
    assert not report.ok
    kinds = [(p.line, p.kind) for p in report.problems]
    assert kinds == [(6, "checkpoint_mismatch"), (8, "checkpoint_mismatch")]  # the checkpoints after it
    assert "were changed after they were checkpointed" in report.problems[0].detail


def test_dropped_records_renumbered_are_detected(
    state: tuple[StatePaths, StateStore], keys: dict[str, Path], tmp_path: Path
) -> None:
    paths, store = state
    log = AuditLog(paths.audit, head_store=store, sinks=[CheckpointSink(keys["auditor"], "auditor")])
    write_run(log)
    rewrite(paths.audit, store, lambda rs: [r for r in rs if r.get("host") != "hmi-01"])
    report = verify_checkpoints(paths.audit, trust_file(tmp_path, keys))
    assert {p.kind for p in report.problems} == {"checkpoint_mismatch"}


def test_removed_checkpoints_are_missing_when_required(
    state: tuple[StatePaths, StateStore], keys: dict[str, Path], tmp_path: Path
) -> None:
    paths, store = state
    log = AuditLog(paths.audit, head_store=store, sinks=[CheckpointSink(keys["auditor"], "auditor")])
    write_run(log)
    rewrite(paths.audit, store, lambda rs: [r for r in rs if r["kind"] != CHECKPOINT_KIND])
    trust = trust_file(tmp_path, keys)
    assert verify_checkpoints(paths.audit, trust).ok  # nothing to check without the requirement
    report = verify_checkpoints(paths.audit, trust, require=True)
    assert [p.kind for p in report.problems] == ["checkpoint_missing"] * 3


def test_a_checkpoint_re_signed_by_another_key_is_refused(
    state: tuple[StatePaths, StateStore], keys: dict[str, Path], tmp_path: Path
) -> None:
    paths, store = state
    log = AuditLog(paths.audit, head_store=store, sinks=[CheckpointSink(keys["mallory"], "auditor")])
    write_run(log)
    report = verify_checkpoints(paths.audit, trust_file(tmp_path, keys))
    assert [p.kind for p in report.problems] == ["checkpoint_signature"] * 3
    assert "does not list" in report.problems[0].detail


def test_a_signer_outside_audit_signers_is_refused(
    state: tuple[StatePaths, StateStore], keys: dict[str, Path], tmp_path: Path
) -> None:
    paths, store = state
    log = AuditLog(paths.audit, head_store=store, sinks=[CheckpointSink(keys["planner"], "planner")])
    write_run(log)
    report = verify_checkpoints(paths.audit, trust_file(tmp_path, keys, ["auditor"]))
    assert [p.kind for p in report.problems] == ["checkpoint_signer"] * 3
    # a planner's plan signature never verifies as a checkpoint: the namespace is signed too
    data = b"statement"
    plan_sig = sshsig.sign(data, keys["planner"], "otorch-plan")
    with pytest.raises(sshsig.VerificationFailed):
        sshsig.verify(data, plan_sig, trust_file(tmp_path, keys).allowed_signers, "planner", NAMESPACE)


def test_unsigned_checkpoint_stops_the_write_path(
    state: tuple[StatePaths, StateStore], tmp_path: Path
) -> None:
    paths, store = state
    log = AuditLog(paths.audit, head_store=store, sinks=[CheckpointSink(tmp_path / "gone", "auditor")])
    with pytest.raises(AuditUnavailable) as caught:
        log.append(ev(1, AuditKind.RUN_STARTED))
    assert caught.value.written and "could not be signed" in str(caught.value)


def test_the_key_must_live_outside_the_state_dir(tmp_path: Path, keys: dict[str, Path]) -> None:
    state = tmp_path / "state"
    (state / "keys").mkdir(parents=True)
    inside = state / "keys" / "audit"
    inside.write_bytes(keys["auditor"].read_bytes())
    with pytest.raises(CheckpointError, match="inside the state directory"):
        check_key_location(inside, state)
    with pytest.raises(CheckpointError, match="no such file"):
        check_key_location(tmp_path / "none", state)
    check_key_location(keys["auditor"], state)
