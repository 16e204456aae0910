"""sshsig against the real ssh-keygen, with keys made in tmp."""

from __future__ import annotations

from pathlib import Path

import pytest

from otorchestrator.trust import sshsig
from otorchestrator.trust.sshsig import AllowedSigner, SigningFailed, VerificationFailed


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in ("alice", "bob", "mallory"):
        key = tmp_path / "keys" / name
        sshsig.generate_key(key, f"{name}@test")
        out[name] = key
    return out


@pytest.fixture
def signers(tmp_path: Path, keys: dict[str, Path]) -> Path:
    listed = [
        AllowedSigner("alice", sshsig.public_key_line(Path(f"{keys['alice']}.pub"))),
        AllowedSigner("bob", sshsig.public_key_line(Path(f"{keys['bob']}.pub")), ("otorch-plan",)),
    ]
    return sshsig.write_allowed_signers(listed, tmp_path / "allowed_signers")


def test_sign_then_verify_and_find(keys: dict[str, Path], signers: Path) -> None:
    sig = sshsig.sign(b"plan bytes", keys["alice"], "otorch-plan")
    assert sig.startswith("-----BEGIN SSH SIGNATURE-----")
    sshsig.verify(b"plan bytes", sig, signers, "alice", "otorch-plan")
    assert sshsig.find_principals(sig, signers, "otorch-plan") == ("alice",)
    assert sshsig.verify_any(b"plan bytes", sig, signers, "otorch-plan") == "alice"


def test_changed_data_does_not_verify(keys: dict[str, Path], signers: Path) -> None:
    sig = sshsig.sign(b"plan bytes", keys["alice"], "otorch-plan")
    with pytest.raises(VerificationFailed, match="does not verify for alice"):
        sshsig.verify(b"plan bytez", sig, signers, "alice", "otorch-plan")
    with pytest.raises(VerificationFailed):
        sshsig.verify_any(b"plan bytez", sig, signers, "otorch-plan")


def test_other_namespace_does_not_verify(keys: dict[str, Path], signers: Path) -> None:
    sig = sshsig.sign(b"x", keys["alice"], "otorch-approval")
    with pytest.raises(VerificationFailed, match="otorch-plan"):
        sshsig.verify(b"x", sig, signers, "alice", "otorch-plan")


def test_wrong_identity_does_not_verify(keys: dict[str, Path], signers: Path) -> None:
    sig = sshsig.sign(b"x", keys["alice"], "otorch-plan")
    with pytest.raises(VerificationFailed, match="for bob"):
        sshsig.verify(b"x", sig, signers, "bob", "otorch-plan")


def test_unknown_key_is_refused(keys: dict[str, Path], signers: Path) -> None:
    sig = sshsig.sign(b"x", keys["mallory"], "otorch-plan")
    assert sshsig.find_principals(sig, signers, "otorch-plan") == ()
    with pytest.raises(VerificationFailed, match="does not list"):
        sshsig.verify_any(b"x", sig, signers, "otorch-plan")


def test_namespace_restriction_in_allowed_signers(keys: dict[str, Path], signers: Path) -> None:
    sig = sshsig.sign(b"x", keys["bob"], "otorch-approval")
    with pytest.raises(VerificationFailed):
        sshsig.verify_any(b"x", sig, signers, "otorch-approval")
    sig = sshsig.sign(b"x", keys["bob"], "otorch-plan")
    assert sshsig.verify_any(b"x", sig, signers, "otorch-plan") == "bob"


def test_errors_are_clear(tmp_path: Path, keys: dict[str, Path], signers: Path) -> None:
    with pytest.raises(SigningFailed, match="no such key file"):
        sshsig.sign(b"x", tmp_path / "nope", "otorch-plan")
    with pytest.raises(sshsig.SshSigError, match="namespace"):
        sshsig.sign(b"x", keys["alice"], "two words")
    with pytest.raises(VerificationFailed, match="not an SSH signature"):
        sshsig.verify(b"x", "garbage", signers, "alice", "otorch-plan")
    sig = sshsig.sign(b"x", keys["alice"], "otorch-plan")
    with pytest.raises(VerificationFailed, match="no such allowed_signers"):
        sshsig.verify(b"x", sig, tmp_path / "missing", "alice", "otorch-plan")
    with pytest.raises(SigningFailed, match="exists"):
        sshsig.generate_key(keys["alice"], "again")
    with pytest.raises(sshsig.SshSigError, match="spaces"):
        AllowedSigner("a b", "ssh-ed25519 AAAA").line()


def test_not_a_private_key_fails_signing(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus"
    bogus.write_text("not a key\n")
    with pytest.raises(SigningFailed, match="ssh-keygen -Y sign"):
        sshsig.sign(b"x", bogus, "otorch-plan")


def test_missing_ssh_keygen(monkeypatch: pytest.MonkeyPatch, keys: dict[str, Path]) -> None:
    monkeypatch.setattr(sshsig, "SSH_KEYGEN", "ssh-keygen-not-installed")
    with pytest.raises(sshsig.SshKeygenMissing, match="openssh-client"):
        sshsig.sign(b"x", keys["alice"], "otorch-plan")
