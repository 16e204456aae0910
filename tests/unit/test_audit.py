"""The audit trail: every kind of tampering is found at the right line, and secrets never land in it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from otorchestrator.cli.audit import audit
from otorchestrator.exitcodes import ExitCode
from otorchestrator.models.results import Phase
from otorchestrator.models.run import GENESIS_HASH, AuditEvent, AuditHead, AuditKind
from otorchestrator.store.audit import AuditLog, event_hash, record_text, verify
from otorchestrator.store.errors import AuditError, SecretInAudit
from otorchestrator.store.paths import StatePaths
from otorchestrator.store.redact import REDACTED, Redactor
from otorchestrator.store.state import StateStore

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
RECORDS = 6


def event(i: int, **detail: object) -> AuditEvent:
    return AuditEvent(
        at=T0 + timedelta(seconds=i),
        operator="alice",
        kind=AuditKind.TRANSITION,
        run_id=None,  # records of no run: the store cross-check (test_audit_crosscheck.py) has none to match
        host=f"hmi-{i:02d}",
        wave=0,
        phase=Phase.INSTALL,
        result="installing",
        detail={"from": "backing_up", "note": "zürich ✓", **detail},
    )


@pytest.fixture
def paths(tmp_path: Path) -> StatePaths:
    return StatePaths(tmp_path / "state").ensure()


@pytest.fixture
def store(paths: StatePaths) -> Iterator[StateStore]:
    with StateStore(paths.db) as s:
        yield s


@pytest.fixture
def log(paths: StatePaths, store: StateStore) -> AuditLog:
    audit_log = AuditLog(paths.audit, head_store=store)
    for i in range(1, RECORDS + 1):
        audit_log.append(event(i))
    return audit_log


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def problem_lines(path: Path, head: AuditHead | None = None) -> list[tuple[int, str]]:
    return [(p.line, p.kind) for p in verify(path, head).problems]


# -- the chain ----------------------------------------------------------------------------------


def test_intact_chain(log: AuditLog, store: StateStore) -> None:
    result = verify(log.path, store.audit_head())
    assert result.ok and result.records == RECORDS
    head = store.audit_head()
    assert head is not None and head.seq == RECORDS and result.head_hash == head.hash
    first = json.loads(lines_of(log.path)[0])
    assert first["seq"] == 1 and first["prev_hash"] == GENESIS_HASH
    assert first["hash"] == event_hash(first["prev_hash"], {k: v for k, v in first.items() if k != "hash"})


def test_append_returns_the_sealed_event(paths: StatePaths) -> None:
    written = AuditLog(paths.audit).append(event(1))
    assert written.seq == 1 and written.prev_hash == GENESIS_HASH and written.hash.startswith("jcs-sha256:")


def test_modified_record(log: AuditLog, store: StateStore) -> None:
    lines = lines_of(log.path)
    lines[2] = lines[2].replace(b"hmi-03", b"hmi-99")
    log.path.write_bytes(b"".join(lines))
    assert problem_lines(log.path, store.audit_head()) == [(3, "hash_mismatch")]


def test_modified_record_with_recomputed_hash_breaks_the_next_link(log: AuditLog) -> None:
    lines = lines_of(log.path)
    record = json.loads(lines[2])
    record["result"] = "succeeded"
    body = {k: v for k, v in record.items() if k != "hash"}
    record["hash"] = event_hash(record["prev_hash"], body)
    lines[2] = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    log.path.write_bytes(b"".join(lines))
    assert problem_lines(log.path) == [(4, "chain_break")]


def test_deleted_record(log: AuditLog) -> None:
    lines = lines_of(log.path)
    del lines[2]
    log.path.write_bytes(b"".join(lines))
    assert problem_lines(log.path) == [(3, "seq"), (3, "chain_break")]


def test_reordered_records(log: AuditLog) -> None:
    lines = lines_of(log.path)
    lines[2], lines[3] = lines[3], lines[2]
    log.path.write_bytes(b"".join(lines))
    found = problem_lines(log.path)
    assert found[0][0] == 3 and {line for line, _ in found} >= {3, 4}


def test_inserted_record(log: AuditLog) -> None:
    lines = lines_of(log.path)
    lines.insert(3, lines[1])  # a replayed copy of seq 2 placed as line 4
    log.path.write_bytes(b"".join(lines))
    found = problem_lines(log.path)
    assert found[0] == (4, "seq") and (4, "chain_break") in found


def test_forged_record_inserted_with_a_valid_hash(log: AuditLog) -> None:
    lines = lines_of(log.path)
    before = json.loads(lines[2])
    forged = event(99).model_dump(mode="json", exclude={"hash"})
    forged.update(seq=4, prev_hash=before["hash"])
    forged["hash"] = event_hash(forged["prev_hash"], forged)
    lines.insert(
        3, json.dumps(forged, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    )
    log.path.write_bytes(b"".join(lines))
    assert problem_lines(log.path)[0][0] == 5  # the forged link itself checks out; the next one does not


def test_truncated_tail_needs_the_store_head(log: AuditLog, store: StateStore) -> None:
    lines = lines_of(log.path)
    log.path.write_bytes(b"".join(lines[:4]))
    assert verify(log.path).ok  # on its own, a clean prefix looks fine ...
    assert problem_lines(log.path, store.audit_head()) == [(5, "truncated")]  # ... but not against the head
    with pytest.raises(AuditError, match="truncated"):
        log.append(event(7))


def test_replaced_log_is_caught_by_the_head(log: AuditLog, store: StateStore, tmp_path: Path) -> None:
    other = AuditLog(tmp_path / "other.jsonl")
    for i in range(1, RECORDS + 1):
        other.append(event(i, forged=True))
    assert problem_lines(other.path, store.audit_head()) == [(RECORDS, "head_mismatch")]


def test_torn_last_line_and_its_repair(log: AuditLog, store: StateStore) -> None:
    whole = log.path.read_bytes()
    fragment = b'{"at":"2026-03-01T02:00:07Z","det'
    log.path.write_bytes(whole + fragment)
    assert problem_lines(log.path, store.audit_head()) == [(RECORDS + 1, "torn")]
    with pytest.raises(AuditError, match="torn"):
        log.append(event(7))
    repair = log.repair_torn_tail("alice", T0)
    assert repair is not None and repair.seq == RECORDS + 1 and repair.detail["bytes"] == len(fragment)
    assert Path(repair.detail["saved_to"]).read_bytes() == fragment  # nothing lost
    log.append(event(8))
    assert verify(log.path, store.audit_head()).ok
    assert log.repair_torn_tail("alice", T0) is None


def test_record_written_just_before_a_crash_is_adopted(log: AuditLog, store: StateStore) -> None:
    unanchored = AuditLog(log.path)  # same file, head not recorded: as if we crashed after the fsync
    unanchored.append(event(7))
    result = verify(log.path, store.audit_head())
    assert result.ok and result.notes
    log.append(event(8))  # the next append adopts seq 7 and carries on
    head = store.audit_head()
    assert head is not None and head.seq == 8
    assert verify(log.path, head).ok


def test_concurrent_appends_keep_one_chain(paths: StatePaths, store: StateStore) -> None:
    audit_log = AuditLog(paths.audit, head_store=store)
    writers = [
        threading.Thread(target=lambda n=n: [audit_log.append(event(n * 100 + i)) for i in range(20)])
        for n in range(4)
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    result = verify(paths.audit, store.audit_head())
    assert result.ok and result.records == 80


# -- secrets ------------------------------------------------------------------------------------

SECRET = "s3cr3t-Vault-pass"


def test_registered_secret_is_redacted_everywhere(paths: StatePaths) -> None:
    redactor = Redactor([SECRET], patterns=[r"token=\S+"])
    audit_log = AuditLog(paths.audit, redactor=redactor)
    written = audit_log.append(
        AuditEvent(
            at=T0,
            operator="alice",
            kind=AuditKind.OPERATOR_ACTION,
            result=f"ok {SECRET}",
            detail={"cmd": f"ansible -e pw={SECRET}", SECRET: [SECRET, {"x": "token=abc123"}]},
        )
    )
    raw = paths.audit.read_bytes()
    assert SECRET.encode() not in raw and b"abc123" not in raw
    assert written.detail["cmd"] == f"ansible -e pw={REDACTED}"
    assert verify(paths.audit).ok


def test_refusing_redactor_writes_nothing(paths: StatePaths) -> None:
    audit_log = AuditLog(paths.audit, redactor=Redactor([SECRET], refuse=True))
    audit_log.append(event(1))
    before = paths.audit.read_bytes()
    with pytest.raises(SecretInAudit, match=r"detail\.cmd") as refused:
        audit_log.append(event(2, cmd=f"pw={SECRET}"))
    assert SECRET not in str(refused.value)
    assert paths.audit.read_bytes() == before


def test_secret_added_at_runtime(paths: StatePaths) -> None:
    redactor = Redactor()
    audit_log = AuditLog(paths.audit, redactor=redactor)
    redactor.add_secret(SECRET)
    audit_log.append(event(1, become=SECRET))
    assert SECRET.encode() not in paths.audit.read_bytes()


# -- any single byte ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("pristine") / "audit.jsonl"
    audit_log = AuditLog(path)
    for i in range(1, RECORDS + 1):
        audit_log.append(event(i))
    return path.read_bytes()


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), replacement=st.integers(min_value=0, max_value=255))
def test_any_single_byte_change_is_found_on_its_line(
    pristine: bytes, tmp_path_factory: pytest.TempPathFactory, position: int, replacement: int
) -> None:
    position %= len(pristine)
    if pristine[position] == replacement:
        replacement = (replacement + 1) % 256
    tampered = bytearray(pristine)
    tampered[position] = replacement
    line = pristine[:position].count(b"\n") + 1
    path = tmp_path_factory.mktemp("tampered") / "audit.jsonl"
    path.write_bytes(bytes(tampered))
    result = verify(path)
    assert not result.ok
    assert result.problems[0].line == line


# -- the CLI ------------------------------------------------------------------------------------


def test_cli_verify_and_show(log: AuditLog, paths: StatePaths) -> None:
    runner = CliRunner()
    ok = runner.invoke(audit, ["verify", "--state-dir", str(paths.root)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith(f"chain intact: {RECORDS} records, head jcs-sha256:")

    shown = runner.invoke(audit, ["show", "--state-dir", str(paths.root), "--host", "hmi-02", "--json"])
    assert shown.exit_code == 0, shown.output
    assert [e["seq"] for e in json.loads(shown.output)] == [2]

    lines = lines_of(log.path)
    log.path.write_bytes(b"".join(lines[:2] + lines[3:]))
    broken = runner.invoke(audit, ["verify", "--state-dir", str(paths.root)])
    assert broken.exit_code == ExitCode.INTEGRITY
    assert "line 3: seq" in broken.output and "line 3: chain_break" in broken.output
    log.path.write_bytes(b"".join(lines[:4]))
    truncated = runner.invoke(audit, ["verify", "--state-dir", str(paths.root)])
    assert truncated.exit_code == ExitCode.INTEGRITY and "line 5: truncated" in truncated.output


def test_cli_state_dir_from_environment(log: AuditLog, paths: StatePaths) -> None:
    result = CliRunner().invoke(audit, ["verify"], env={"OTORCH_STATE_DIR": str(paths.root)})
    assert result.exit_code == 0 and f"{RECORDS} records" in result.output


def test_cli_log_file_only(log: AuditLog) -> None:
    result = CliRunner().invoke(audit, ["verify", "--log", str(log.path)])
    assert result.exit_code == 0 and "chain intact" in result.output


def test_records_written_before_rfc_8785_still_verify_and_the_chain_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    body = AuditEvent(at=T0, operator="ops", kind="note", detail={"ratio": 7.0}).model_dump(
        mode="json", exclude={"hash"}
    )
    body["seq"], body["prev_hash"] = 1, GENESIS_HASH
    old = {**body, "hash": event_hash(GENESIS_HASH, body, "legacy")}
    assert old["hash"].startswith("sha256:") and '"ratio":7.0' in record_text(old, "legacy")
    path.write_text(record_text(old, "legacy") + "\n")
    assert verify(path).ok
    new = AuditLog(path).append(AuditEvent(at=T0, operator="ops", kind="note", detail={"ratio": 7.0}))
    assert new.hash.startswith("jcs-sha256:") and new.prev_hash == old["hash"]
    assert '"ratio":7}' in path.read_text().splitlines()[1]
    assert verify(path).ok
    path.write_text(path.read_text().replace('"ratio":7.0', '"ratio":8.0', 1))
    assert [p.kind for p in verify(path).problems][:1] == ["hash_mismatch"]
