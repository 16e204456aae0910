"""Audit records as RFC 5424 syslog messages with CEF fields: framing, escaping, parsing back, the sink's
failure policy (a loopback TCP server of the test's own; the real rsyslog is in the integration test)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otorchestrator.forward.config import AuditConfigError, audit_sinks, load_audit_config
from otorchestrator.forward.rfc5424 import (
    MessageSource,
    SyslogFormatError,
    cef_header_escape,
    cef_message,
    cef_value_escape,
    cef_value_unescape,
    octet_frame,
    parse_cef,
    parse_syslog,
    record_of_line,
    syslog_message,
)
from otorchestrator.forward.syslog import SyslogSink
from otorchestrator.models.auditconfig import AuditConfig, SyslogTarget
from otorchestrator.models.results import Phase
from otorchestrator.models.run import AuditEvent
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.errors import AuditUnavailable

T0 = datetime(2026, 3, 1, 2, 0, 0, 250000, tzinfo=UTC)
SOURCE = MessageSource(hostname="ctl-01", procid="4242", version="0.1.0")
AWKWARD = 'a=b \\ back | pipe ] bracket " quote\nnew line\r zürich ✓'


def record(**over: object) -> AuditEvent:
    fields: dict[str, object] = {
        "seq": 7,
        "at": T0,
        "operator": "carol",
        "kind": "transition",
        "run_id": "run-1",
        "host": "nw-hmi-01",
        "wave": 0,
        "phase": Phase.INSTALL,
        "result": "installing",
        "detail": {"note": AWKWARD},
        "prev_hash": "jcs-sha256:" + "1" * 64,
        "hash": "jcs-sha256:" + "2" * 64,
    }
    fields.update(over)
    return AuditEvent.model_validate(fields)


def test_message_header_structured_data_and_cef() -> None:
    message = syslog_message(record(), SOURCE)
    assert message.startswith(
        "<109>1 2026-03-01T02:00:00.250000Z ctl-01 otorch 4242 transition [otorch@32473 "
    )
    parsed = parse_syslog(message)
    assert (parsed.pri, parsed.hostname, parsed.app_name, parsed.procid, parsed.msgid) == (
        109, "ctl-01", "otorch", "4242", "transition"
    )  # fmt: skip
    assert parsed.structured == {
        "otorch@32473": {"seq": "7", "hash": "jcs-sha256:" + "2" * 64, "run": "run-1", "host": "nw-hmi-01"}
    }
    header, ext = parse_cef(parsed.msg)
    assert header == [
        "CEF:0",
        "otorchestrator",
        "otorch",
        "0.1.0",
        "transition",
        "transition installing",
        "3",
    ]
    assert ext["suser"] == "carol" and ext["dhost"] == "nw-hmi-01" and ext["act"] == "installing"
    assert ext["rt"] == str(int(T0.timestamp() * 1000))
    assert (ext["cs1Label"], ext["cs1"], ext["cn1"], ext["cs2"], ext["cn2"]) == (
        "runId",
        "run-1",
        "0",
        "install",
        "7",
    )
    assert json.loads(ext["cs6"]) == record().model_dump(mode="json")


def test_failures_are_warnings_with_a_high_cef_severity() -> None:
    message = syslog_message(record(result="rollback_failed"), SOURCE)
    assert message.startswith("<108>1 ")  # facility 13 (log audit) * 8 + 4 (warning)
    assert parse_cef(parse_syslog(message).msg)[0][6] == "7"


def test_octet_counting_counts_bytes_not_characters() -> None:
    frame = octet_frame("ü")
    assert frame == b"2 \xc3\xbc"
    message = syslog_message(record(), SOURCE)
    length, _, body = octet_frame(message).partition(b" ")
    assert int(length) == len(body) == len(message.encode())
    assert parse_syslog(octet_frame(message).decode()).msgid == "transition"  # a kept count is skipped


def test_cef_escaping() -> None:
    assert cef_header_escape("a|b\\c\nd") == "a\\|b\\\\c d"
    assert cef_value_escape("k=v\\x\ny\r") == "k\\=v\\\\x\\ny\\r"
    assert cef_value_unescape(cef_value_escape(AWKWARD)) == AWKWARD
    # an escaped '=' inside a value never starts a new key
    _, ext = parse_cef("CEF:0|v|p|1|c|n|3|msg=a b\\=c d=e cs6=x")
    assert ext == {"msg": "a b=c", "d": "e", "cs6": "x"}
    header, _ = parse_cef("CEF:0|ven\\|dor|p|1|c|n\\\\ame|3|")
    assert header[1:2] == ["ven|dor"] and header[5] == "n\\ame"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_any_text_survives_escaping(text: str) -> None:
    assert cef_value_unescape(cef_value_escape(text)) == text
    _, ext = parse_cef(f"CEF:0|v|p|1|c|n|3|a={cef_value_escape(text)} b={cef_value_escape(text)}")
    assert ext == {"a": text, "b": text}


def test_record_of_line_reads_syslog_traditional_and_json_lines() -> None:
    rec = record()
    text = json.dumps(rec.model_dump(mode="json"))
    message = syslog_message(rec, SOURCE)
    assert json.loads(record_of_line(message + "\n")) == rec.model_dump(mode="json")
    cef = cef_message(rec, "0.1.0")
    assert json.loads(record_of_line(f"Mar  1 02:00:00 ctl-01 otorch[4242]: {cef}")) == json.loads(text)
    assert record_of_line(text) == text
    with pytest.raises(SyslogFormatError):
        record_of_line("Mar  1 02:00:00 ctl-01 sshd[1]: Accepted publickey")
    with pytest.raises(SyslogFormatError):
        record_of_line("<13>1 - - - - -")


class Collector:
    """A loopback TCP server that reads octet-counted frames (and can be stopped)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.frames: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        buf = b""
        with conn:
            while chunk := conn.recv(65536):
                buf += chunk
                while b" " in buf:
                    length, _, rest = buf.partition(b" ")
                    if len(rest) < int(length):
                        break
                    self.frames.append(rest[: int(length)])
                    buf = rest[int(length) :]

    def stop(self) -> None:
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.stop()


def test_sink_forwards_each_record_as_written(collector: Collector, tmp_path: Path) -> None:
    sink = SyslogSink(SyslogTarget(host="127.0.0.1", port=collector.port), warn=pytest.fail)
    log = AuditLog(tmp_path / "audit.jsonl", sinks=[sink])
    for i in range(3):
        log.append(AuditEvent(at=T0, operator="carol", kind="note", detail={"i": i, "text": AWKWARD}))
    log.close()
    collector.thread.join(timeout=5)
    local = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert [record_of_line(f.decode()) for f in collector.frames] == local


def _dead_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


def test_halt_policy_stops_the_write_path_with_the_record_kept_locally(tmp_path: Path) -> None:
    sink = SyslogSink(SyslogTarget(host="127.0.0.1", port=_dead_port()), warn=pytest.fail)
    log = AuditLog(tmp_path / "audit.jsonl", sinks=[sink])
    with pytest.raises(AuditUnavailable) as caught:
        log.append(AuditEvent(at=T0, operator="carol", kind="note"))
    assert caught.value.written and "not forwarded" in str(caught.value) and "halt" in str(caught.value)
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 1


def test_warn_policy_goes_on_and_reports_once(tmp_path: Path) -> None:
    warnings: list[str] = []
    target = SyslogTarget(host="127.0.0.1", port=_dead_port(), on_failure="warn")
    sink = SyslogSink(target, warn=warnings.append)
    log = AuditLog(tmp_path / "audit.jsonl", sinks=[sink])
    for _ in range(3):
        log.append(AuditEvent(at=T0, operator="carol", kind="note"))
    assert sink.missed == [1, 2, 3] and len(warnings) == 1 and "warn" in warnings[0]


def test_config_file_and_sinks(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "keys").mkdir(parents=True)
    (state / "keys" / "audit").write_text("key")
    path = tmp_path / "audit.yml"
    path.write_text(f"schema_version: 1\ncheckpoints:\n  key: {state / 'keys' / 'audit'}\n  signer: a\n")
    with pytest.raises(AuditConfigError, match="inside the state directory"):
        audit_sinks(load_audit_config(path), state, print)
    path.write_text("syslog:\n  host: 127.0.0.1\n  port: 70000\n  on_failure: stop\n")
    with pytest.raises(AuditConfigError) as caught:
        load_audit_config(path)
    assert "syslog.port" in str(caught.value) and "syslog.on_failure" in str(caught.value)
    config = AuditConfig(syslog=SyslogTarget(host="127.0.0.1", port=_dead_port()))
    with pytest.raises(AuditUnavailable, match="no connection"):  # checked before a run starts
        audit_sinks(config, state, print)


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for `name` (and its key), made with cryptography (an ansible-core dependency)."""
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


class TlsCollector(Collector):
    def __init__(self, cert: Path, key: Path) -> None:
        import ssl

        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        super().__init__()

    def _serve(self) -> None:
        import ssl

        try:
            raw, _ = self.server.accept()
        except OSError:
            return
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        buf = b""
        with conn:
            while chunk := conn.recv(65536):
                buf += chunk
                while b" " in buf:
                    length, _, rest = buf.partition(b" ")
                    if len(rest) < int(length):
                        break
                    self.frames.append(rest[: int(length)])
                    buf = rest[int(length) :]


def test_tls_forwarding_verifies_the_server(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "localhost")
    server = TlsCollector(cert, key)
    try:
        target = SyslogTarget(
            host="127.0.0.1", port=server.port, tls=True, ca_file=str(cert), server_name="localhost"
        )
        log = AuditLog(tmp_path / "audit.jsonl", sinks=[SyslogSink(target, warn=pytest.fail)])
        log.append(AuditEvent(at=T0, operator="carol", kind="note", detail={"text": AWKWARD}))
        log.close()
        server.thread.join(timeout=5)
        assert [record_of_line(f.decode()) for f in server.frames] == (
            tmp_path / "audit.jsonl"
        ).read_text().splitlines()
    finally:
        server.stop()
    other, _ = _self_signed(tmp_path, "other")
    impostor = TlsCollector(cert, key)
    try:  # a CA that did not sign the server's certificate: refused, the run would halt
        target = SyslogTarget(
            host="127.0.0.1", port=impostor.port, tls=True, ca_file=str(other), server_name="localhost"
        )
        with pytest.raises(AuditUnavailable, match=r"TLS with 127\.0\.0\.1"):
            AuditLog(tmp_path / "b.jsonl", sinks=[SyslogSink(target, warn=pytest.fail)]).append(
                AuditEvent(at=T0, operator="carol", kind="note")
            )
    finally:
        impostor.stop()


def test_audit_forward_resends_a_range(collector: Collector, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from otorchestrator.cli.audit import audit
    from otorchestrator.store.state import StateStore

    state = tmp_path / "state"
    state.mkdir()
    with StateStore(state / "state.db") as store:
        log = AuditLog(state / "audit.jsonl", head_store=store)
        for i in range(5):
            log.append(AuditEvent(at=T0, operator="carol", kind="note", detail={"i": i}))
    config = tmp_path / "audit.yml"
    config.write_text(f"syslog:\n  host: 127.0.0.1\n  port: {collector.port}\n  on_failure: warn\n")
    result = CliRunner().invoke(
        audit,
        ["forward", "--state-dir", str(state), "--from", "2", "--to", "3", "--audit-config", str(config)],
    )
    assert result.exit_code == 0, result.output
    assert "sent 2 record(s) (seq 2..3) to syslog 127.0.0.1" in result.output
    collector.thread.join(timeout=5)
    local = (state / "audit.jsonl").read_text().splitlines()
    assert [record_of_line(f.decode()) for f in collector.frames] == local[1:3]
    config.write_text(f"syslog:\n  host: 127.0.0.1\n  port: {_dead_port()}\n  on_failure: warn\n")
    refused = CliRunner().invoke(
        audit, ["forward", "--state-dir", str(state), "--from", "1", "--audit-config", str(config)]
    )
    assert (
        refused.exit_code == 14 and "not forwarded" in refused.output
    )  # a warn policy still reports it here
