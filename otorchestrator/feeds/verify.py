"""Checking a fetched document: its .sha512, its detached OpenPGP signature (gpgv, against a keyring built
from the feed's key file, signer pinned by fingerprint), and its shape (CSAF 2.0, usable by the planner)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from otorchestrator.feeds.records import sha512_hex
from otorchestrator.intake.csaf import parse_advisory
from otorchestrator.intake.errors import IntakeError

GPG_TIMEOUT = 60


class Refused(Exception):
    """A document that must not be stored; the message is the reason shown to the operator."""


class KeyringError(Exception):
    """The feed's key file cannot serve as its trust anchor (unreadable, or a pinned key missing)."""


def check_sha512(data: bytes, sha512_file: bytes) -> str:
    """The document's sha512 (hex) when the publisher's .sha512 file (`<hex>  <name>`) names it."""
    words = sha512_file.decode("ascii", "replace").split()
    expected = words[0].lower() if words else ""
    actual = sha512_hex(data)
    if len(expected) != 128 or any(c not in "0123456789abcdef" for c in expected):
        raise Refused(f"hash file is not a sha512 line (found {sha512_file[:40]!r})")
    if actual != expected:
        raise Refused(f"hash mismatch: sha512 {actual[:16]}... but the .sha512 file says {expected[:16]}...")
    return actual


class Keyring:
    """A throw-away GnuPG home holding only the feed's key file; `verify` runs gpgv against it."""

    def __init__(self, key_file: Path, pinned: tuple[str, ...]) -> None:
        self.key_file = key_file
        self.pinned = tuple(fp.upper() for fp in pinned)
        self._home: Path | None = None

    def __enter__(self) -> Keyring:
        if shutil.which("gpg") is None or shutil.which("gpgv") is None:
            raise KeyringError("gpg and gpgv are needed (Debian package gnupg)")
        try:
            armored = self.key_file.read_bytes()
        except OSError as exc:
            raise KeyringError(f"key file {self.key_file}: {exc.strerror or exc}") from exc
        self._home = Path(tempfile.mkdtemp(prefix="otorch-feeds-gpg-"))
        self._home.chmod(0o700)
        keyring = self._home / "trusted.gpg"
        self._gpg(["--import"], armored)
        keyring.write_bytes(self._gpg(["--export"], b""))
        listed = self._gpg(["--with-colons", "--fingerprint", "--list-keys"], b"").decode()
        present = {line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:")}
        missing = [fp for fp in self.pinned if fp not in present]
        if missing:
            self.__exit__(None, None, None)
            raise KeyringError(
                f"key file {self.key_file} holds no key with the pinned fingerprint(s) {', '.join(missing)}"
            )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def _gpg(self, args: list[str], stdin: bytes) -> bytes:
        assert self._home is not None
        done = subprocess.run(
            ["gpg", "--batch", "--no-tty", "--quiet", "--homedir", str(self._home), *args],
            input=stdin,
            capture_output=True,
            timeout=GPG_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise KeyringError(
                f"gpg {' '.join(args)} on {self.key_file}: {done.stderr.decode(errors='replace').strip()}"
            )
        return done.stdout

    def verify(self, data: bytes, signature: bytes) -> str:
        """The fingerprint of the pinned key whose signature `signature` is over `data`; Refused otherwise."""
        assert self._home is not None, "use the keyring as a context manager"
        if b"BEGIN PGP SIGNATURE" not in signature[:200]:
            raise Refused("signature file is not an armored OpenPGP signature")
        with tempfile.NamedTemporaryFile(dir=self._home, suffix=".asc") as sig:
            sig.write(signature)
            sig.flush()
            done = subprocess.run(
                [
                    "gpgv",
                    "--homedir",
                    str(self._home),
                    "--keyring",
                    str(self._home / "trusted.gpg"),
                    "--status-fd",
                    "1",
                    sig.name,
                    "-",
                ],
                input=data,
                capture_output=True,
                timeout=GPG_TIMEOUT,
                check=False,
            )
        status = done.stdout.decode(errors="replace").splitlines()
        valid = [line.split() for line in status if line.startswith("[GNUPG:] VALIDSIG ")]
        if done.returncode != 0 or not valid:
            raise Refused(_why_not(status))
        signer, primary = valid[0][2], valid[0][-1]
        if primary in self.pinned:
            return primary
        if signer in self.pinned:
            return signer
        raise Refused(f"wrong signer: signed by {primary}, not a pinned key of this feed")


def _why_not(status: list[str]) -> str:
    for line in status:
        words = line.split()
        if len(words) < 2:
            continue
        if words[1] == "BADSIG":
            return "bad signature: the document is not the one signed (tampered or corrupted)"
        if words[1] == "NO_PUBKEY":
            return f"wrong signer: signed by key {words[2]}, which is not in the feed's key file"
        if words[1] in ("EXPKEYSIG", "REVKEYSIG", "EXPSIG"):
            return f"signature by an expired or revoked key ({words[1]})"
    if any(" NODATA " in f"{line} " for line in status):
        return "signature file holds no OpenPGP signature"
    return "signature does not verify (" + "; ".join(line[9:] for line in status[-2:]) + ")"


@dataclass(frozen=True)
class Tracking:
    id: str
    version: str
    current_release_date: str

    def released(self) -> datetime:
        return _moment(self.current_release_date)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_csaf(data: bytes, name: str) -> Tracking:
    """The tracking block of a usable CSAF 2.0 document; Refused (with the JSON path) otherwise."""
    try:
        doc: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(f"not CSAF: not JSON ({exc})") from exc
    document = doc.get("document") if isinstance(doc, dict) else None
    tracking = document.get("tracking") if isinstance(document, dict) else None
    if not isinstance(document, dict) or not isinstance(tracking, dict):
        raise Refused("not CSAF: no $.document.tracking object")
    if str(document.get("csaf_version")) != "2.0":
        raise Refused(f"not CSAF 2.0: $.document.csaf_version is {document.get('csaf_version')!r}")
    fields = {}
    for key in ("id", "version", "current_release_date"):
        value = tracking.get(key)
        if not isinstance(value, str) or not value.strip():
            raise Refused(f"not CSAF: $.document.tracking.{key} is missing")
        fields[key] = value.strip()
    found = Tracking(**fields)
    try:
        found.released()
    except ValueError as exc:
        raise Refused(
            f"not CSAF: $.document.tracking.current_release_date {found.current_release_date!r}"
        ) from exc
    try:
        parse_advisory(doc, name)
    except IntakeError as exc:
        raise Refused(f"not a usable CSAF advisory: {exc}") from exc
    return found
