"""The site trust file: who may plan, approve and operate, by OpenSSH public key (docs/trust.md).

```yaml
schema_version: 1
identities:                      # principal -> OpenSSH public key (the allowed_signers of this site)
  alice: ssh-ed25519 AAAAC3...
  bob: ssh-ed25519 AAAAC3...
planners: [alice]                # may sign plans and wave plans
operators: [carol]               # may run them (`otorch run --operator carol --key ~/.ssh/id_ed25519`)
approvers:
  - principals: [bob]
    sites: [plant-north]         # empty: every site
    zones: []                    # empty: every zone of those sites
    safety_systems: true         # may approve safety systems
    kinds: [asset, unqualified_patch, drill]
two_approvers: [safety_system]   # safety_system | high_criticality | unqualified_patch
approvals_dir: approvals         # signed approval files (relative to this file)
audit_signers: []                # may sign audit checkpoints (empty: any identity of this file)
```

The trust file is the root of trust: keep it where operators cannot write it (default
/etc/otorchestrator/trust.yml, root-owned). A group- or world-writable trust file is refused.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from otorchestrator.intake.errors import IntakeError
from otorchestrator.intake.yamlfile import read_data
from otorchestrator.trust.sshsig import AllowedSigner, allowed_signers_text

DEFAULT_TRUST_FILE = Path("/etc/otorchestrator/trust.yml")
TRUST_ENV = "OTORCH_TRUST_FILE"


class TrustError(ValueError):
    """The trust file is missing, unreadable, unsafe or invalid (message names file and field)."""


class ApprovalKind(StrEnum):
    ASSET = "asset"  # a safety-system or high-criticality host
    UNQUALIFIED_PATCH = "unqualified_patch"  # a patch the vendor did not qualify
    DRILL = "drill"  # a rollback drill


class TwoApprovers(StrEnum):
    SAFETY_SYSTEM = "safety_system"
    HIGH_CRITICALITY = "high_criticality"
    UNQUALIFIED_PATCH = "unqualified_patch"


class ApproverGrant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    principals: tuple[str, ...] = Field(min_length=1)
    sites: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    safety_systems: bool = False
    kinds: tuple[ApprovalKind, ...] = tuple(ApprovalKind)

    def covers(
        self, principal: str, kind: ApprovalKind, site: str | None, zone: str | None, sis: bool
    ) -> bool:
        if principal not in self.principals or kind not in self.kinds:
            return False
        if sis and not self.safety_systems:
            return False
        if self.sites and (site is None or site not in self.sites):
            return False
        return not self.zones or (zone is not None and zone in self.zones)


class TrustFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    identities: dict[str, str] = Field(min_length=1)
    planners: tuple[str, ...] = Field(min_length=1)
    operators: tuple[str, ...] = ()  # empty: any operator name, no key proof asked
    approvers: tuple[ApproverGrant, ...] = ()
    two_approvers: tuple[TwoApprovers, ...] = ()
    approvals_dir: str = "approvals"
    audit_signers: tuple[str, ...] = ()  # may sign audit checkpoints (empty: any identity; docs/audit.md)

    @model_validator(mode="after")
    def _known_principals(self) -> TrustFile:
        named = {*self.planners, *self.operators, *(p for g in self.approvers for p in g.principals)}
        named |= set(self.audit_signers)
        unknown = sorted(named - set(self.identities))
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: named in planners/operators/approvers/audit_signers but not in "
                "identities"
            )
        for principal, key in self.identities.items():
            AllowedSigner(principal, key).line()  # raises with the principal's name
        return self


class SiteTrust:
    """A loaded trust file and the allowed_signers file ssh-keygen reads (written once, in tmp)."""

    def __init__(self, spec: TrustFile, path: Path) -> None:
        self.spec = spec
        self.path = path
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def approvals_dir(self) -> Path:
        return (self.path.parent / self.spec.approvals_dir).resolve()

    @cached_property
    def allowed_signers(self) -> Path:
        self._dir = tempfile.TemporaryDirectory(prefix="otorch-trust-")
        out = Path(self._dir.name) / "allowed_signers"
        signers = [AllowedSigner(p, k) for p, k in sorted(self.spec.identities.items())]
        out.write_text(allowed_signers_text(signers), encoding="utf-8")
        return out

    def may_plan(self, principal: str) -> bool:
        return principal in self.spec.planners

    def may_operate(self, operator: str) -> bool:
        return not self.spec.operators or operator in self.spec.operators

    def may_approve(
        self, principal: str, kind: ApprovalKind, site: str | None, zone: str | None, sis: bool
    ) -> bool:
        return any(g.covers(principal, kind, site, zone, sis) for g in self.spec.approvers)


def _check_mode(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise TrustError(
            f"{path}: writable by group or others (mode {stat.filemode(mode)}): anyone who can write the "
            f"trust file can add their own key; `chmod go-w {path}`"
        )


def load_trust(path: Path) -> SiteTrust:
    if not path.is_file():
        raise TrustError(f"{path}: no such trust file")
    _check_mode(path)
    try:
        data = read_data(path)
        spec = TrustFile.model_validate(data)
    except IntakeError as exc:
        raise TrustError(str(exc)) from exc
    except ValidationError as exc:
        lines = [
            f"{path}: {'.'.join(str(p) for p in err['loc']) or '$'}: {err['msg']}" for err in exc.errors()
        ]
        raise TrustError("invalid trust file:\n  " + "\n  ".join(lines)) from exc
    return SiteTrust(spec, path.resolve())


def trust_path(given: Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    """`--trust`, else $OTORCH_TRUST_FILE, else /etc/otorchestrator/trust.yml when it exists."""
    if given is not None:
        return given
    environ = os.environ if env is None else env
    if environ.get(TRUST_ENV):
        return Path(environ[TRUST_ENV])
    return DEFAULT_TRUST_FILE if DEFAULT_TRUST_FILE.is_file() else None


def find_trust(given: Path | None, env: Mapping[str, str] | None = None) -> SiteTrust | None:
    """The site trust in force (None: no trust file anywhere, signatures are not checked)."""
    path = trust_path(given, env)
    return None if path is None else load_trust(path)
