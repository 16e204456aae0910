"""Logging for `otorch`: the library logs through `logging.getLogger(__name__)` (never prints); the CLI calls
`configure` once per invocation (-v/-q, --log-format text|json, --log-file, or the OTORCH_LOG_* variables).

Records go to stderr (a service manager such as systemd collects it) and, with --log-file, appended to a file
as well (one JSON object a line with --log-format json: what a SIEM collector such as rsyslog imfile,
Filebeat or Vector reads). Every record passes through a `RedactingFilter` before it is written: the
secret shapes of reporting/redact.py (passwords, tokens, private keys, Authorization headers) and the secret
values the run registers with `add_secret` (e.g. a become password) become ***REDACTED***.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from otorchestrator.reporting.redact import DEFAULT_PATTERNS
from otorchestrator.store.redact import Redactor

LOGGER = "otorchestrator"
ENV_LEVEL = "OTORCH_LOG_LEVEL"
ENV_FORMAT = "OTORCH_LOG_FORMAT"
ENV_FILE = "OTORCH_LOG_FILE"
FORMATS = ("text", "json")
LogFormat = Literal["text", "json"]
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_LEVEL = logging.WARNING
_MARK = "_otorch_handler"
# attributes every LogRecord has: anything else on a record came from `extra=` and is a field of the event
_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Replaces secrets in the message, its arguments and the extra fields of every record."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.redactor = Redactor(secrets=secrets, patterns=DEFAULT_PATTERNS)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, _ = self.redactor.scrub(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and not key.startswith("_"):
                setattr(record, key, self.redactor.scrub(value)[0])
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.scrub(record.exc_text)[0]
            record.exc_info = None  # the redacted text is what the formatters print
        return True


def event_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields of a record (run_id, host, phase, ...)."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC, ms), level, logger, message, the extra fields, exc when any."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(event_fields(record))
        if record.exc_text:
            data["exc"] = record.exc_text
        return json.dumps(data, default=str, ensure_ascii=False, sort_keys=False)


class TextFormatter(logging.Formatter):
    """`2026-12-02T05:10:00Z INFO otorchestrator.execution.scan: message key=value ...`"""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fields = " ".join(f"{k}={v}" for k, v in event_fields(record).items())
        line = f"{ts} {record.levelname} {record.name}: {record.getMessage()}" + (
            f" [{fields}]" if fields else ""
        )
        return line + (f"\n{record.exc_text}" if record.exc_text else "")


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the time (click's test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def level_from(verbose: int, quiet: int, env: Mapping[str, str]) -> int:
    """-v INFO, -vv DEBUG, -q ERROR, -qq CRITICAL; without either, $OTORCH_LOG_LEVEL or WARNING."""
    if verbose or quiet:
        index = LEVELS.index("WARNING") - verbose + quiet
        return getattr(logging, LEVELS[max(0, min(index, len(LEVELS) - 1))])
    name = env.get(ENV_LEVEL, "").strip().upper()
    if not name:
        return DEFAULT_LEVEL
    if name not in LEVELS:
        raise ValueError(f"{ENV_LEVEL}={env[ENV_LEVEL]!r}: expected one of {', '.join(LEVELS)}")
    return getattr(logging, name)


def configure(level: int, fmt: LogFormat = "text", log_file: Path | None = None) -> RedactingFilter:
    """Install otorch's handlers on the `otorchestrator` logger (replacing those of an earlier call)."""
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if getattr(h, _MARK, False)]:
        logger.removeHandler(handler)
        handler.close()
    redacting = RedactingFilter()
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handlers: list[logging.Handler] = [_StderrHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        setattr(handler, _MARK, True)
        handler.addFilter(redacting)
        handler.setFormatter(formatter)
        handler.setLevel(level)
        logger.addHandler(handler)
    logger.setLevel(level)
    return redacting


def add_secret(secret: str) -> None:
    """Redact this exact value from every later log record (e.g. a become password read for a run)."""
    for handler in logging.getLogger(LOGGER).handlers:
        for f in handler.filters:
            if isinstance(f, RedactingFilter):
                f.redactor.add_secret(secret)
