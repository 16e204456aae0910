"""The site's audit settings: where every audit record is forwarded (syslog) and which key signs the
checkpoints (docs/audit.md). Plain data, no I/O; `otorchestrator.forward.config` reads the file.

```yaml
schema_version: 1
syslog:                       # every record, as it is written, to the SIEM (RFC 5424 over TCP)
  host: siem.plant-north.example
  port: 6514
  tls: true                   # RFC 5425; ca_file verifies the server, cert_file/key_file: client auth
  ca_file: /etc/otorchestrator/siem-ca.pem
  on_failure: halt            # halt: no host step starts while a record cannot be forwarded; warn: go on
checkpoints:
  key: /etc/otorchestrator/keys/audit   # outside the state directory (a .pub: the key is in ssh-agent)
  signer: otorch-audit                  # its identity in the trust file (audit_signers)
```
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OnFailure(StrEnum):
    HALT = "halt"  # the run stops starting host steps and ends AUDIT_UNAVAILABLE
    WARN = "warn"  # a warning; `otorch audit verify --against` shows the gap later


class SyslogTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    tls: bool = False
    ca_file: str | None = None  # default: the system's CAs
    cert_file: str | None = None  # client certificate (mutual TLS)
    key_file: str | None = None
    server_name: str | None = None  # the name in the server's certificate (default: host)
    on_failure: OnFailure = OnFailure.HALT
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    facility: int = Field(default=13, ge=0, le=23)  # 13: log audit (RFC 5424 table 1)
    app_name: str = Field(default="otorch", min_length=1, max_length=48, pattern=r"^[!-~]+$")
    hostname: str | None = Field(default=None, max_length=255, pattern=r"^[!-~]+$")  # default: FQDN
    enterprise_id: str = Field(default="32473", pattern=r"^[0-9.]+$")  # SD-ID otorch@<id>

    @model_validator(mode="after")
    def _tls_files(self) -> SyslogTarget:
        if not self.tls and (self.ca_file or self.cert_file or self.key_file):
            raise ValueError("ca_file, cert_file and key_file need tls: true")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give cert_file and key_file together")
        return self


class CheckpointConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1)
    signer: str = Field(min_length=1, pattern=r"^[^\s\"]+$")


class AuditConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    syslog: SyslogTarget | None = None
    checkpoints: CheckpointConfig | None = None
