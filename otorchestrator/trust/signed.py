"""Detached signatures of files: `FILE.sig` beside `FILE`, over its exact bytes, one namespace per kind.

A plan signed in the `otorch-plan` namespace never verifies as an approval or a wave plan: the namespace is
part of what ssh-keygen signs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from otorchestrator.trust import sshsig
from otorchestrator.trust.sshsig import VerificationFailed
from otorchestrator.trust.trustfile import SiteTrust


class Kind(StrEnum):
    PLAN = "plan"
    WAVEPLAN = "waveplan"
    APPROVAL = "approval"
    RUN = "run"

    @property
    def namespace(self) -> str:
        return f"otorch-{self.value}"


def sig_path(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def sign_file(path: Path, key: Path, kind: Kind) -> Path:
    """Write `path`.sig, the signature of `path`'s bytes by `key` for `kind`."""
    signature = sshsig.sign(path.read_bytes(), key, kind.namespace)
    out = sig_path(path)
    out.write_text(signature, encoding="ascii")
    return out


@dataclass(frozen=True)
class Verified:
    path: Path
    kind: Kind
    signer: str


def verify_bytes(data: bytes, signature: str, trust: SiteTrust, kind: Kind, where: str) -> str:
    """The principal of `trust` that signed `data` for `kind`; raises VerificationFailed naming `where`."""
    try:
        return sshsig.verify_any(data, signature, trust.allowed_signers, kind.namespace)
    except VerificationFailed as exc:
        raise VerificationFailed(f"{where}: {exc}") from exc


def verify_file(path: Path, trust: SiteTrust, kind: Kind) -> Verified:
    """`path` with a valid `path`.sig by an identity of `trust`, in `kind`'s namespace. For plans and wave
    plans the signer must also be a planner."""
    sig = sig_path(path)
    if not sig.is_file():
        raise VerificationFailed(
            f"{path}: not signed (no {sig.name}); sign it with `otorch sign {path} --key KEY`"
        )
    signer = verify_bytes(
        path.read_bytes(), sig.read_text(encoding="ascii", errors="replace"), trust, kind, str(path)
    )
    if kind in (Kind.PLAN, Kind.WAVEPLAN) and not trust.may_plan(signer):
        raise VerificationFailed(
            f"{path}: signed by {signer}, who is not a planner in {trust.path} "
            f"(planners: {', '.join(trust.spec.planners)})"
        )
    return Verified(path, kind, signer)
