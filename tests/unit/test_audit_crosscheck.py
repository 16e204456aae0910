"""`otorch audit verify` beyond the chain: the audit log against the store's transitions and phase results,
and against an exported copy (--against), in text and --json. The issue's two rewrites, each with the chain
recomputed and the store's head moved, are caught by the store cross-check."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_backend import T0, FakeBackend, fake_hosts, fake_inventory, make_plan

from otorchestrator.cli.audit import audit
from otorchestrator.execution.options import RunOptions
from otorchestrator.execution.orchestrator import Orchestrator
from otorchestrator.exitcodes import ExitCode
from otorchestrator.forward.copycheck import compare_copy
from otorchestrator.forward.rfc5424 import MessageSource, syslog_message
from otorchestrator.models.results import Phase
from otorchestrator.models.run import AuditEvent
from otorchestrator.store.audit import AuditLog, event_hash, record_text, verify
from otorchestrator.store.clock import FakeClock
from otorchestrator.store.state import StateStore

SOURCE = MessageSource(hostname="ctl-01", procid="1", version="0.1.0")


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A finished run of three hosts (b's verify fails: rolled back), its store and audit log."""
    root = tmp_path / "state"
    root.mkdir()
    plan = make_plan([["a", "b", "c"]], budget=2)
    clock = FakeClock(T0)
    backend = FakeBackend(fake_hosts(plan), clock, {("b", Phase.VERIFY): "fail"})
    with StateStore(root / "state.db") as store:
        orch = Orchestrator(backend, store, AuditLog(root / "audit.jsonl", head_store=store), clock)
        orch.run(
            plan,
            RunOptions(
                operator="alice", inventory=Path("inv"), hosts_inventory=fake_inventory, run_id="run-1"
            ),
        )
    return root


def verify_cli(*args: str) -> Any:
    return CliRunner().invoke(audit, ["verify", *args])


def rewrite(root: Path, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Edit, renumber, recompute every hash, move the head in SQLite: the chain verifies afterwards."""
    path = root / "audit.jsonl"
    records = change([json.loads(line) for line in path.read_text().splitlines()])
    prev, out = "sha256:" + "0" * 64, []
    for seq, record in enumerate(records, start=1):
        body = {k: v for k, v in record.items() if k != "hash"}
        body["seq"], body["prev_hash"] = seq, prev
        prev = event_hash(prev, body)
        out.append(record_text({**body, "hash": prev}) + "\n")
    path.write_text("".join(out))
    with sqlite3.connect(root / "state.db") as conn:
        conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (len(records), prev))
    with StateStore(root / "state.db") as store:
        assert verify(path, store.audit_head()).ok  # the chain alone is fooled


def test_an_untouched_run_matches_the_store(state: Path) -> None:
    result = verify_cli("--state-dir", str(state))
    assert result.exit_code == 0, result.output
    assert "store: 1 run(s), " in result.output and "phase results match the audit log" in result.output


def test_failed_rewritten_to_ok_is_caught_by_the_store(state: Path) -> None:
    def failed_to_ok(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for r in records:
            if r["kind"] == "phase_result" and r["host"] == "b" and r["result"] == "failed":
                r["result"], r["detail"]["outcome"] = "ok", "ok"
        return records

    rewrite(state, failed_to_ok)
    result = verify_cli("--state-dir", str(state))
    assert result.exit_code == ExitCode.INTEGRITY, result.output
    assert "chain intact" in result.output and "DO NOT match the audit log" in result.output
    assert "run run-1 host b: phase_result verify ok (ok, wave 0) missing in the store" in result.output
    assert "host b: phase_result verify failed (failed, wave 0) missing in the audit log" in result.output


def test_a_host_dropped_and_the_operator_renamed_is_caught(state: Path) -> None:
    def drop_c(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [r for r in records if r.get("host") != "c"]
        for r in kept:
            r["operator"] = "mallory"
        return kept

    rewrite(state, drop_c)
    result = verify_cli("--state-dir", str(state), "--json")
    assert result.exit_code == ExitCode.INTEGRITY
    data = json.loads(result.output)
    assert data["ok"] is False and data["chain"]["ok"] is True and data["store"]["ok"] is False
    missing = {(p["host"], p["side"], p["what"]) for p in data["store"]["problems"]}
    assert missing == {("c", "store", "transition"), ("c", "store", "phase_result")}


def _export(state: Path, copy: Path, how: str = "syslog") -> list[str]:
    lines = (state / "audit.jsonl").read_text().splitlines()
    if how == "syslog":
        out = [syslog_message(AuditEvent.model_validate_json(line), SOURCE) for line in lines]
    else:
        out = lines
    copy.write_text("\n".join(out) + "\n")
    return out


@pytest.mark.parametrize("how", ["syslog", "jsonl"])
def test_against_a_copy_passes_then_fails_after_one_changed_line(
    state: Path, tmp_path: Path, how: str
) -> None:
    copy = tmp_path / "copy.log"
    lines = _export(state, copy, how)
    ok = verify_cli("--state-dir", str(state), "--against", str(copy))
    assert ok.exit_code == 0, ok.output
    assert f"records (seq 1..{len(lines)}) matches the log" in ok.output
    n = next(i for i, line in enumerate(lines) if '"rolled_back"' in line)
    lines[n] = lines[n].replace('"rolled_back"', '"succeeded"')  # the SIEM copy edited
    copy.write_text("\n".join(lines) + "\n")
    bad = verify_cli("--state-dir", str(state), "--against", str(copy))
    assert bad.exit_code == ExitCode.INTEGRITY, bad.output
    assert (
        f'copy: copy line {n + 1}: differs: seq {n + 1}: result: local "rolled_back", copy "succeeded"'
        in (bad.output)
    )


def test_against_finds_local_deletions_gaps_and_unreadable_lines(state: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.log"
    lines = _export(state, copy)
    local = (state / "audit.jsonl").read_text().splitlines(keepends=True)
    (state / "audit.jsonl").write_text("".join(local[:-1]))  # the last local record removed
    copy.write_text("\n".join([*lines[:3], "garbage line", *lines[4:]]) + "\n")
    check = compare_copy(state / "audit.jsonl", copy)
    kinds = [(p.where, p.kind) for p in check.problems]
    assert ("copy line 4", "unreadable") in kinds
    assert ("seq 4", "not_in_copy") in kinds
    assert (f"copy line {len(lines)}", "only_in_copy") in kinds


def test_a_recomputed_local_chain_against_the_copy_names_the_edit_and_the_rechained_run(
    state: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.log"
    lines = _export(state, copy)

    def rolled_back_to_succeeded(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for r in records:
            if r["result"] == "rolled_back":
                r["result"] = "succeeded"
        return records

    rewrite(state, rolled_back_to_succeeded)
    check = compare_copy(state / "audit.jsonl", copy)
    edited = next(i for i, line in enumerate(lines, start=1) if '"rolled_back"' in line)
    assert [(p.where, p.kind) for p in check.problems] == [
        (f"copy line {edited}", "differs"),
        (f"copy lines {edited + 1}..{len(lines)}", "rechained"),
    ]
    assert 'result: local "succeeded", copy "rolled_back"' in check.problems[0].detail
