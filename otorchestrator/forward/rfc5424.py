"""One audit record as one syslog message: RFC 5424 header and structured data, a CEF message, octet-counted
TCP framing (RFC 6587 section 3.4.1). Pure functions, and the parser that reads a SIEM's copy back.

    <109>1 2026-03-01T02:00:00.000000Z ctl-01 otorch 4242 transition [otorch@32473 seq="7" hash="jcs-sha256:…"
    run="run-…" host="nw-hmi-01"] CEF:0|otorchestrator|otorch|0.1.0|transition|transition installing|3|rt=…
    suser=carol dhost=nw-hmi-01 act=installing … cs6Label=record cs6={"at":…}

The CEF extension `cs6` carries the whole record in its RFC 8785 text (CEF-escaped), so the copy can be
checked record by record against the local log; the other fields are for people and SIEM rules
(docs/audit.md lists them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC

from otorchestrator.models.run import AuditEvent
from otorchestrator.store.audit_records import record_text

NILVALUE = "-"
SEVERITY_NOTICE, SEVERITY_WARNING = 5, 4
# results that make a record a warning in syslog and severity 7 (high) in CEF
FAILING_RESULTS = frozenset(
    {"failed", "refused", "rollback_failed", "unreachable", "timed_out", "blocked", "halted", "aborted"}
)
_CEF_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9_.]+)=")


class SyslogFormatError(ValueError):
    """A line that is not an otorch syslog message (the message says what is missing)."""


# -- CEF -----------------------------------------------------------------------------------------------


def cef_header_escape(value: str) -> str:
    """CEF header fields: backslash and pipe escaped; line breaks would end the event, so spaces."""
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def cef_value_escape(value: str) -> str:
    """CEF extension values: backslash, equals sign and line breaks escaped."""
    return value.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def cef_value_unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "r": "\r"}.get(nxt, nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def cef_severity(record: AuditEvent) -> int:
    if record.result in FAILING_RESULTS:
        return 7
    return 5 if record.kind.endswith(("halted", "refused")) else 3


def cef_message(record: AuditEvent, version: str) -> str:
    """The CEF:0 text of a record (header, then extension fields; the record itself in cs6)."""
    name = f"{record.kind} {record.result}" if record.result else record.kind
    header = [
        "CEF:0",
        "otorchestrator",
        "otorch",
        version,
        record.kind,
        name,
        str(cef_severity(record)),
    ]
    ext: list[tuple[str, str | None]] = [
        ("rt", str(int(record.at.timestamp() * 1000))),
        ("suser", record.operator),
        ("dhost", record.host),
        ("act", record.result),
        ("cs1Label", "runId"),
        ("cs1", record.run_id),
        ("cn1Label", "wave"),
        ("cn1", None if record.wave is None else str(record.wave)),
        ("cs2Label", "phase"),
        ("cs2", record.phase.value if record.phase else None),
        ("cs3Label", "patchId"),
        ("cs3", record.patch_id),
        ("fileHash", record.artifact_sha256),
        ("cn2Label", "seq"),
        ("cn2", str(record.seq)),
        ("cs4Label", "hash"),
        ("cs4", record.hash),
        ("cs5Label", "prevHash"),
        ("cs5", record.prev_hash),
        ("cs6Label", "record"),
        ("cs6", record_text(record.model_dump(mode="json"))),
    ]
    fields = " ".join(f"{k}={cef_value_escape(v)}" for k, v in ext if v is not None)
    return "|".join(cef_header_escape(h) if i else h for i, h in enumerate(header)) + "|" + fields


def parse_cef(text: str) -> tuple[list[str], dict[str, str]]:
    """(the 7 header fields, the extension) of a CEF:0 message."""
    if not text.startswith("CEF:0|"):
        raise SyslogFormatError("no CEF:0 message")
    header: list[str] = []
    current, i = [], 0
    while len(header) < 7:
        if i >= len(text):
            raise SyslogFormatError(f"CEF header has {len(header)} of 7 fields")
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current.append(text[i + 1])
            i += 2
        elif char == "|":
            header.append("".join(current))
            current, i = [], i + 1
        else:
            current.append(char)
            i += 1
    rest = text[i:]
    keys = list(_CEF_KEY.finditer(rest))
    ext: dict[str, str] = {}
    for n, match in enumerate(keys):
        end = keys[n + 1].start() - 1 if n + 1 < len(keys) else len(rest)
        ext[match.group(1)] = cef_value_unescape(rest[match.end() : end])
    return header, ext


# -- RFC 5424 --------------------------------------------------------------------------------------


def _sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _ascii_token(value: str | None, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most `limit` characters, else NILVALUE."""
    if not value:
        return NILVALUE
    clean = "".join(c if "!" <= c <= "~" else "_" for c in value)[:limit]
    return clean or NILVALUE


@dataclass(frozen=True)
class MessageSource:
    """Who sends: the header fields that are not the record's."""

    hostname: str
    app_name: str = "otorch"
    procid: str = NILVALUE
    facility: int = 13  # log audit
    enterprise_id: str = "32473"
    version: str = "0"


def syslog_message(record: AuditEvent, source: MessageSource) -> str:
    """The RFC 5424 message (without framing) of one audit record."""
    severity = SEVERITY_WARNING if record.result in FAILING_RESULTS else SEVERITY_NOTICE
    stamp = record.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    params: dict[str, str | None] = {
        "seq": str(record.seq),
        "hash": record.hash,
        "run": record.run_id,
        "host": record.host,
    }
    sd_params = " ".join(f'{k}="{_sd_escape(v)}"' for k, v in params.items() if v is not None)
    header = " ".join(
        [
            f"<{source.facility * 8 + severity}>1",
            stamp,
            _ascii_token(source.hostname, 255),
            _ascii_token(source.app_name, 48),
            _ascii_token(source.procid, 128),
            _ascii_token(record.kind, 32),
        ]
    )
    return f"{header} [otorch@{source.enterprise_id} {sd_params}] {cef_message(record, source.version)}"


def octet_frame(message: str) -> bytes:
    """RFC 6587 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes."""
    data = message.encode("utf-8")
    return str(len(data)).encode("ascii") + b" " + data


@dataclass(frozen=True)
class ParsedMessage:
    pri: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    structured: dict[str, dict[str, str]]
    msg: str


def _parse_sd(text: str) -> tuple[dict[str, dict[str, str]], str]:
    """(SD elements, the rest after them) of text starting at STRUCTURED-DATA."""
    if text.startswith(NILVALUE + " ") or text == NILVALUE:
        return {}, text[2:]
    elements: dict[str, dict[str, str]] = {}
    i = 0
    while i < len(text) and text[i] == "[":
        end_id = min(p for p in (text.find(" ", i), text.find("]", i)) if p != -1)
        sd_id, i, params = text[i + 1 : end_id], end_id, {}
        while text[i] == " ":
            eq = text.index("=", i)
            name, i = text[i + 1 : eq], eq + 2  # skip '="'
            value: list[str] = []
            while text[i] != '"':
                if text[i] == "\\" and text[i + 1] in '"\\]':
                    i += 1
                value.append(text[i])
                i += 1
            params[name] = "".join(value)
            i += 1
        if text[i] != "]":
            raise SyslogFormatError(f"structured data element {sd_id} not closed")
        elements[sd_id] = params
        i += 1
    return elements, text[i + 1 :] if text[i : i + 1] == " " else text[i:]


def parse_syslog(line: str) -> ParsedMessage:
    """An RFC 5424 message (a leading octet count is skipped)."""
    text = line.rstrip("\r\n")
    frame = re.match(r"^[0-9]+ (?=<)", text)
    if frame:
        text = text[frame.end() :]
    head = re.match(r"^<([0-9]{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) ", text)
    if head is None:
        raise SyslogFormatError("not an RFC 5424 message (<PRI>1 TIMESTAMP HOST APP PROCID MSGID ...)")
    try:
        structured, msg = _parse_sd(text[head.end() :])
    except (ValueError, IndexError) as exc:
        raise SyslogFormatError(f"structured data unreadable: {exc}") from exc
    pri, stamp, host, app, procid, msgid = head.groups()
    return ParsedMessage(int(pri), stamp, host, app, procid, msgid, structured, msg.removeprefix("\ufeff"))


def record_of_line(line: str) -> str:
    """The record text (cs6) an exported line carries: an RFC 5424 message, a line whose message part is
    the CEF text (a traditional-format file), or a bare JSON record. Returns the record's text."""
    text = line.rstrip("\r\n")
    if text.startswith("{"):
        return text
    if re.match(r"^([0-9]+ )?<[0-9]{1,3}>1 ", text):
        msg = parse_syslog(text).msg
    else:
        at = text.find("CEF:0|")
        if at < 0:
            raise SyslogFormatError("no RFC 5424 header, CEF message or JSON record")
        msg = text[at:]
    _, ext = parse_cef(msg)
    if "cs6" not in ext:
        raise SyslogFormatError("CEF message without the record (cs6)")
    return ext["cs6"]
