"""The site's audit config file (`models/auditconfig.py`): found, read, and turned into audit sinks.

Found at `--audit-config`, else `$OTORCH_AUDIT_CONFIG`, else /etc/otorchestrator/audit.yml when it exists.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import ValidationError

from otorchestrator.forward.syslog import SyslogSink
from otorchestrator.intake.errors import IntakeError
from otorchestrator.intake.yamlfile import read_data
from otorchestrator.models.auditconfig import AuditConfig
from otorchestrator.store.audit import AuditSink
from otorchestrator.store.checkpoints import CheckpointError, CheckpointSink, check_key_location

DEFAULT_AUDIT_CONFIG = Path("/etc/otorchestrator/audit.yml")
AUDIT_CONFIG_ENV = "OTORCH_AUDIT_CONFIG"


class AuditConfigError(ValueError):
    """The audit config is unreadable or invalid, or its checkpoint key unusable (names file and field)."""


def audit_config_path(given: Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    if given is not None:
        return given
    environ = os.environ if env is None else env
    if environ.get(AUDIT_CONFIG_ENV):
        return Path(environ[AUDIT_CONFIG_ENV])
    return DEFAULT_AUDIT_CONFIG if DEFAULT_AUDIT_CONFIG.is_file() else None


def load_audit_config(path: Path) -> AuditConfig:
    if not path.is_file():
        raise AuditConfigError(f"{path}: no such audit config file")
    try:
        return AuditConfig.model_validate(read_data(path) or {})
    except IntakeError as exc:
        raise AuditConfigError(str(exc)) from exc
    except ValidationError as exc:
        lines = [
            f"{path}: {'.'.join(str(p) for p in err['loc']) or '$'}: {err['msg']}" for err in exc.errors()
        ]
        raise AuditConfigError("invalid audit config:\n  " + "\n  ".join(lines)) from exc


def find_audit_config(given: Path | None, env: Mapping[str, str] | None = None) -> AuditConfig | None:
    path = audit_config_path(given, env)
    return None if path is None else load_audit_config(path)


def audit_sinks(config: AuditConfig | None, state_dir: Path, warn: Callable[[str], None]) -> list[AuditSink]:
    """The sinks a config asks for, in order: syslog first (so each checkpoint record is forwarded after
    the record it covers), then the checkpoint signer. Syslog's connection is checked here."""
    if config is None:
        return []
    sinks: list[AuditSink] = []
    if config.syslog is not None:
        forward = SyslogSink(config.syslog, warn)
        forward.check()
        sinks.append(forward)
    if config.checkpoints is not None:
        key = Path(config.checkpoints.key)
        try:
            check_key_location(key, state_dir)
        except CheckpointError as exc:
            raise AuditConfigError(str(exc)) from exc
        sinks.append(CheckpointSink(key, config.checkpoints.signer))
    return sinks
