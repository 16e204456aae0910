"""OpenSSH signatures (`ssh-keygen -Y`), the one place the product signs and verifies.

A signature is the armored text `ssh-keygen -Y sign` prints (`-----BEGIN SSH SIGNATURE-----`), over
bytes, bound to a namespace (so an approval signature never verifies as a plan signature). Who may sign
is an `allowed_signers` file as git uses it (`principal [options] keytype base64`, see ssh-keygen(1)
ALLOWED SIGNERS). Every call runs the real ssh-keygen with data on stdin; nothing is re-implemented.

Errors are data: `SshSigError` and its subclasses carry ssh-keygen's own message.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SSH_KEYGEN = "ssh-keygen"
TIMEOUT_S = 30.0
_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_END = "-----END SSH SIGNATURE-----"


class SshSigError(RuntimeError):
    """A signature could not be made, read or checked."""


class SshKeygenMissing(SshSigError):
    """ssh-keygen (OpenSSH >= 8.1) is not on PATH."""


class SigningFailed(SshSigError):
    """ssh-keygen -Y sign refused (missing key, passphrase without an agent, ...)."""


class VerificationFailed(SshSigError):
    """The signature does not verify for that identity and namespace."""


@dataclass(frozen=True)
class AllowedSigner:
    """One line of an allowed_signers file. `public_key` is `keytype base64` (a comment is dropped);
    `namespaces` limits the namespaces the key may sign for (None: any)."""

    principal: str
    public_key: str
    namespaces: tuple[str, ...] | None = None

    def line(self) -> str:
        if not self.principal or any(c.isspace() for c in self.principal) or '"' in self.principal:
            raise SshSigError(f"principal {self.principal!r}: must be non-empty, without spaces or quotes")
        fields = self.public_key.split()
        if len(fields) < 2:
            raise SshSigError(
                f"principal {self.principal}: public key {self.public_key!r} is not 'keytype base64'"
            )
        options = f' namespaces="{",".join(self.namespaces)}"' if self.namespaces else ""
        return f"{self.principal}{options} {fields[0]} {fields[1]}"


def allowed_signers_text(signers: Iterable[AllowedSigner]) -> str:
    return "".join(s.line() + "\n" for s in signers)


def write_allowed_signers(signers: Iterable[AllowedSigner], path: Path) -> Path:
    path.write_text(allowed_signers_text(signers), encoding="utf-8")
    return path


def _keygen() -> str:
    found = shutil.which(SSH_KEYGEN)
    if found is None:
        raise SshKeygenMissing(
            "ssh-keygen not found on PATH: install openssh-client (OpenSSH >= 8.1 has ssh-keygen -Y)"
        )
    return found


def _run(args: list[str], stdin: bytes, error: type[SshSigError]) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(
            [_keygen(), *args],
            input=stdin,
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise error(
            f"ssh-keygen {' '.join(args[:2])} did not finish within {TIMEOUT_S:.0f} s "
            "(a key with a passphrase needs ssh-agent: pass the .pub file and load the key with ssh-add)"
        ) from exc
    return proc


def _message(proc: subprocess.CompletedProcess[bytes]) -> str:
    text = (proc.stderr or b"").decode("utf-8", "replace").strip() or (proc.stdout or b"").decode(
        "utf-8", "replace"
    ).strip()
    return text.replace("\n", "; ") or f"exit status {proc.returncode}"


def _check_namespace(namespace: str) -> None:
    if not namespace or any(c.isspace() for c in namespace):
        raise SshSigError(f"namespace {namespace!r}: must be non-empty, without spaces")


def sign(data: bytes, key: Path, namespace: str) -> str:
    """The armored signature of `data` by `key` (a private key file, or a .pub whose private half is
    in ssh-agent) for `namespace`."""
    _check_namespace(namespace)
    if not key.is_file():
        raise SigningFailed(f"{key}: no such key file")
    proc = _run(["-Y", "sign", "-q", "-f", str(key), "-n", namespace], data, SigningFailed)
    out = proc.stdout.decode("ascii", "replace")
    if proc.returncode != 0 or _BEGIN not in out:
        raise SigningFailed(f"ssh-keygen -Y sign with {key} failed: {_message(proc)}")
    return out[out.index(_BEGIN) :].strip() + "\n"


def check_armor(signature: str, where: str = "signature") -> None:
    """Raises unless `signature` looks like one ssh-keygen armored signature."""
    text = signature.strip()
    if not (text.startswith(_BEGIN) and text.endswith(_END)):
        raise VerificationFailed(f"{where}: not an SSH signature (expected {_BEGIN} ... {_END})")


class _SigFile:
    """The signature in a private temporary file (ssh-keygen -Y verify reads it only from a file)."""

    def __init__(self, signature: str) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="otorch-sig-")
        self.path = Path(self._dir.name) / "data.sig"
        self.path.write_text(signature, encoding="ascii")

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()


def verify(data: bytes, signature: str, allowed_signers: Path, identity: str, namespace: str) -> None:
    """Raises `VerificationFailed` unless `signature` is a valid signature of `data`, for `namespace`,
    by a key that `allowed_signers` lists for `identity`."""
    _check_namespace(namespace)
    check_armor(signature)
    if not allowed_signers.is_file():
        raise VerificationFailed(f"{allowed_signers}: no such allowed_signers file")
    with _SigFile(signature) as sig:
        args = ["-Y", "verify", "-f", str(allowed_signers), "-I", identity, "-n", namespace, "-s", str(sig)]
        proc = _run(args, data, VerificationFailed)
    if proc.returncode != 0:
        raise VerificationFailed(
            f"signature does not verify for {identity} in namespace {namespace}: {_message(proc)}"
        )


def find_principals(signature: str, allowed_signers: Path, namespace: str) -> tuple[str, ...]:
    """The principals whose key made `signature` (per `allowed_signers`, for `namespace`). This only
    matches the key: it does NOT check the signature over any data (use `verify` or `verify_any`)."""
    _check_namespace(namespace)
    check_armor(signature)
    if not allowed_signers.is_file():
        raise VerificationFailed(f"{allowed_signers}: no such allowed_signers file")
    with _SigFile(signature) as sig:
        args = ["-Y", "find-principals", "-f", str(allowed_signers), "-n", namespace, "-s", str(sig)]
        proc = _run(args, b"", VerificationFailed)
    if proc.returncode != 0:
        return ()
    return tuple(p for p in proc.stdout.decode("utf-8", "replace").split() if p)


def verify_any(data: bytes, signature: str, allowed_signers: Path, namespace: str) -> str:
    """The principal that validly signed `data` for `namespace`; raises `VerificationFailed` when the
    key is in no allowed_signers line or the signature does not verify."""
    principals = find_principals(signature, allowed_signers, namespace)
    if not principals:
        raise VerificationFailed(
            f"signature was made by a key that {allowed_signers} does not list for namespace {namespace}"
        )
    failures: list[str] = []
    for principal in principals:
        try:
            verify(data, signature, allowed_signers, principal, namespace)
        except VerificationFailed as exc:
            failures.append(str(exc))
            continue
        return principal
    raise VerificationFailed("; ".join(failures))


def generate_key(path: Path, comment: str) -> str:
    """A new Ed25519 key without passphrase at `path` (+ `path`.pub); returns the public key line.
    For labs and tests; site keys are the operators' own."""
    if path.exists():
        raise SigningFailed(f"{path}: exists, not overwriting a key")
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = _run(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], b"", SigningFailed)
    if proc.returncode != 0:
        raise SigningFailed(f"ssh-keygen could not create {path}: {_message(proc)}")
    return public_key_line(Path(f"{path}.pub"))


def public_key_line(pub: Path) -> str:
    """`keytype base64` of a .pub file (its comment dropped)."""
    try:
        fields = pub.read_text(encoding="utf-8").split()
    except OSError as exc:
        raise SshSigError(f"{pub}: {exc.strerror}") from exc
    if len(fields) < 2 or not fields[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise SshSigError(f"{pub}: not an OpenSSH public key")
    return f"{fields[0]} {fields[1]}"
