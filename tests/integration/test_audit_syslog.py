"""A real rsyslogd (Debian's) on loopback receives every audit record of a real lab run, RFC 5424 over TCP
with octet counting; `otorch audit verify --against` its file passes, with the run's signed checkpoints
verified, and fails after one line of that file is changed.

The rsyslogd is this test's own: an unprivileged config in tmp_path (imtcp on a free loopback port, omfile
writing the raw message), `-n` in the foreground, its own pid file and work directory; the system's
rsyslog (if any) is not touched. The lab is test_execution.py's instance (its name and ports).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from test_execution import LAB_NAME, OTORCH, PORT_OFFSET, _env, _reset, otorch, waveplan

from otorchestrator.forward.rfc5424 import record_of_line
from otorchestrator.lab import LabConfig, lifecycle
from otorchestrator.lab.handle import LabHandle, lab_unavailable_reason
from otorchestrator.trust import sshsig

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOSTS = ["nw-hmi-01", "nw-hist-01"]  # one that installs and verifies, one that diagnostics blocks
RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="256k")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\\n")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="otorch")
ruleset(name="otorch") {{
  action(type="omfile" file="{copy}" template="raw" asyncWriting="off" flushOnTXEnd="on")
}}
"""


@dataclass
class Rsyslog:
    port: int
    copy: Path
    proc: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def rsyslogd(tmp_path: Path) -> Iterator[Rsyslog]:
    binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    assert Path(binary).exists(), "rsyslogd missing: scripts/bootstrap.sh installs rsyslog"
    root = tmp_path / "rsyslog"
    (root / "work").mkdir(parents=True)
    port = _free_port()
    conf = root / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(work=root / "work", port=port, copy=root / "copy.log"))
    check = subprocess.run([binary, "-N1", "-f", str(conf)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [binary, "-n", "-f", str(conf), "-i", str(root / "rsyslogd.pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "rsyslogd did not listen"
            time.sleep(0.2)
    yield Rsyslog(port, root / "copy.log", proc)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def lab() -> Iterator[LabHandle]:
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)
    cfg = LabConfig.from_env({"OTORCH_LAB_NAME": LAB_NAME, "OTORCH_LAB_PORT_OFFSET": str(PORT_OFFSET)})
    lifecycle.up(cfg, names=HOSTS)
    handle = LabHandle.for_config(cfg)
    handle.hosts = list(HOSTS)
    yield handle


def _wait_for_copy(copy: Path, last_seq: int, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = copy.read_text().splitlines() if copy.exists() else []
        if lines and json.loads(record_of_line(lines[-1]))["seq"] >= last_seq:
            return lines
        assert time.monotonic() < deadline, f"rsyslog's file has {len(lines)} lines, want seq {last_seq}"
        time.sleep(0.2)


def test_rsyslog_holds_every_record_and_verify_against_it(
    lab: LabHandle, rsyslogd: Rsyslog, tmp_path: Path
) -> None:
    _reset(lab, HOSTS)
    try:
        keys = tmp_path / "keys"  # outside the state directory
        sshsig.generate_key(keys / "audit", "otorch-audit@it")
        trust = tmp_path / "trust.yml"
        trust.write_text(
            yaml.safe_dump(
                {
                    "schema_version": 1,
                    "identities": {"otorch-audit": sshsig.public_key_line(keys / "audit.pub")},
                    "planners": ["otorch-audit"],
                    "audit_signers": ["otorch-audit"],
                }
            )
        )
        trust.chmod(0o644)
        config = tmp_path / "audit.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "schema_version": 1,
                    "syslog": {"host": "127.0.0.1", "port": rsyslogd.port, "on_failure": "halt"},
                    "checkpoints": {"key": str(keys / "audit"), "signer": "otorch-audit"},
                }
            )
        )
        plan_file = tmp_path / "waves.json"
        plan_file.write_text(waveplan(lab, [HOSTS], budget=1).model_dump_json())
        state = tmp_path / "state"
        result = otorch(
            "run", str(plan_file), "--yes", "--json", "--operator", "it-ops", "--state-dir", str(state),
            "--audit-config", str(config),
        )  # fmt: skip
        assert result.returncode == 3, result.stderr[-3000:]  # completed, nw-hist-01 blocked
        hosts = {h["host"]: h["state"] for h in json.loads(result.stdout)["hosts"]}
        assert hosts == {"nw-hmi-01": "succeeded", "nw-hist-01": "blocked"}

        local = (state / "audit.jsonl").read_text().splitlines()
        kinds = [json.loads(line)["kind"] for line in local]
        assert kinds.count("audit_checkpoint") == 3, kinds  # run start, wave end, run end
        copy = _wait_for_copy(rsyslogd.copy, len(local))
        assert [record_of_line(line) for line in copy] == local  # every record, in order, byte for byte
        assert copy[0].startswith("<109>1 ") and " otorch " in copy[0]

        verify = ["audit", "verify", "--state-dir", str(state), "--trust", str(trust)]
        ok = otorch(*verify, "--require-checkpoints", "--against", str(rsyslogd.copy), env=_env())
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "checkpoints verified: 3 of 3 signatures good by otorch-audit" in ok.stdout
        assert f"records (seq 1..{len(local)}) matches the log" in ok.stdout
        print(ok.stdout)  # the Must-show output (pytest -s)

        # one line of the syslog copy changed: the final transition of nw-hmi-01 now says failed
        edited = tmp_path / "copy-edited.log"
        n = max(i for i, line in enumerate(copy) if "nw-hmi-01" in line and "succeeded" in line)
        lines = [*copy]
        lines[n] = lines[n].replace("succeeded", "failed")
        edited.write_text("\n".join(lines) + "\n")
        bad = otorch(*verify, "--against", str(edited), env=_env())
        assert bad.returncode == 10, bad.stdout + bad.stderr
        assert f"copy: copy line {n + 1}: differs: seq {n + 1}:" in bad.stdout
        assert "DOES NOT match the log" in bad.stdout
        print(bad.stdout)
    finally:
        _reset(lab, HOSTS)


def _states(db: Path) -> dict[str, str]:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return dict(conn.execute("SELECT host, state FROM host_states").fetchall())
    except sqlite3.Error:
        return {}


def test_syslog_lost_mid_run_halts_with_audit_unavailable_then_resume_finishes(
    lab: LabHandle, tmp_path: Path
) -> None:
    """rsyslogd killed while the host is in diagnostics (policy halt): the run stops starting host steps,
    exits 14 and is halted; resumed against a new rsyslogd it finishes; the SIEM copy shows the gap."""
    from otorchestrator.forward import loopback

    host = "nw-hmi-01"
    _reset(lab, [host])
    first = loopback.start(tmp_path / "syslog-1")
    try:
        config = tmp_path / "audit.yml"
        config.write_text(yaml.safe_dump({"syslog": {"host": "127.0.0.1", "port": first.port}}))
        plan_file = tmp_path / "waves.json"
        plan_file.write_text(waveplan(lab, [[host]], budget=0).model_dump_json())
        state = tmp_path / "state"
        args = ["--yes", "--json", "--operator", "it-ops", "--state-dir", str(state)]
        proc = subprocess.Popen(
            [*OTORCH, "run", str(plan_file), *args, "--audit-config", str(config)],
            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while _states(state / "state.db").get(host) != "diagnosing":
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        first.stop()  # the SIEM goes away mid-run
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 14, err[-3000:]
        assert "audit unavailable: " in err and "not forwarded to syslog 127.0.0.1" in err
        assert "otorch resume run-" in err
        status = json.loads(otorch("status", "--json", "--state-dir", str(state)).stdout)
        run_id = status["run"]["run_id"]
        assert status["run"]["status"] == "halted" and "audit unavailable" in status["run"]["status_detail"]
        assert status["hosts"][0]["state"] == "diagnosing"  # never moved on without its audit record
        assert version_of(lab, host) == "1.0.0"  # not installed
        named = int(err.split("audit record seq ")[1].split(" ")[0])  # the record it could not forward
        first_run = len((state / "audit.jsonl").read_text().splitlines())  # its last record: the halt

        second = loopback.start(tmp_path / "syslog-2")
        try:
            config.write_text(yaml.safe_dump({"syslog": {"host": "127.0.0.1", "port": second.port}}))
            resumed = otorch("resume", run_id, *args, "--audit-config", str(config))
            assert resumed.returncode == 0, resumed.stderr[-3000:]
            assert [h["state"] for h in json.loads(resumed.stdout)["hosts"]] == ["succeeded"]
            assert version_of(lab, host) == "1.1.0"
            local = (state / "audit.jsonl").read_text().splitlines()
            assert second.wait_for(len(local))
            both = tmp_path / "siem.log"  # what the SIEM holds from both servers
            both.write_text(first.copy.read_text() + second.copy.read_text())
            check = otorch("audit", "verify", "--state-dir", str(state), "--against", str(both))
            # the copy's gap: the record that could not be forwarded and the halt written after it, and before
            # them any record TCP took while rsyslogd was going down (sent, never written: TCP has no
            # acknowledgement; seen in CI on 8c00c99 as seqs 7-9); one run of seqs ending with the first run
            assert check.returncode == 10, check.stdout + check.stderr
            gaps = [line for line in check.stdout.splitlines() if "not_in_copy" in line]
            assert gaps and all("a gap in the copy" in g for g in gaps), check.stdout
            assert "store: 1 run(s)" in check.stdout and "match the audit log" in check.stdout
            missing = [int(g.split("seq ")[1].split(":")[0]) for g in gaps]
            assert missing == list(range(min(missing), first_run + 1)) and named in missing, (missing, named)
            held = len(second.copy.read_text().splitlines())
            # the operator closes the gap: the missing records sent again
            sent = otorch(
                "audit", "forward", "--state-dir", str(state), "--from", str(min(missing)),
                "--to", str(max(missing)), "--audit-config", str(config),
            )  # fmt: skip
            assert sent.returncode == 0, sent.stdout + sent.stderr
            deadline = time.monotonic() + 20
            while len(second.copy.read_text().splitlines()) < held + len(missing):
                assert time.monotonic() < deadline, "the resent records did not arrive"
                time.sleep(0.2)
        finally:
            second.stop()
        both.write_text(first.copy.read_text() + second.copy.read_text())
        closed = otorch("audit", "verify", "--state-dir", str(state), "--against", str(both))
        assert closed.returncode == 0, closed.stdout + closed.stderr
        print(err[-800:], check.stdout, sent.stdout, closed.stdout)
    finally:
        first.stop()
        _reset(lab, [host])


def version_of(lab: LabHandle, host: str) -> str:
    return lab.sh(host, "dpkg-query -W -f='${Version}' nwc-hmi-runtime").stdout.strip()


def test_loopback_rsyslog_starts_from_a_relative_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make demo` passes out/demo-<time>/syslog, relative to the checkout: rsyslogd (which changes to /)
    must still find its pid file and work directory."""
    from otorchestrator.forward import loopback

    monkeypatch.chdir(tmp_path)
    copy = loopback.start(Path("out") / "syslog")
    try:
        assert copy.copy.is_absolute() and (tmp_path / "out" / "syslog" / "rsyslog.conf").is_file()
    finally:
        copy.stop()
