"""Build what the lab hosts need: the host image, the signed repositories and the lab SSH key.
Each step is cached by its own script/stamp, so calling these again is cheap."""

from __future__ import annotations

import subprocess
from pathlib import Path

from otorchestrator.lab.config import LabConfig, Progress


class LabBuildError(RuntimeError):
    pass


def _run_script(script: Path, args: list[str], progress: Progress) -> str:
    """Run a build script; stream its stderr lines as progress, return its stdout."""
    proc = subprocess.Popen([str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stdout is not None
    tail: list[str] = []
    for line in proc.stderr:
        line = line.rstrip()
        if not line or "CNI config" in line or line.startswith("gpg: "):
            continue
        tail = [*tail[-19:], line]
        if line.startswith("[lab"):
            progress(line)
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise LabBuildError(f"{script} failed (rc {proc.returncode}):\n" + "\n".join(tail))
    return out


def image_ref(cfg: LabConfig) -> str:
    """The image tag of the current recipe (without building it)."""
    return _run_script(cfg.scripts_dir / "image" / "build-image.sh", ["--tag-only"], lambda _: None).strip()


def build_image(cfg: LabConfig, progress: Progress) -> str:
    out = _run_script(cfg.scripts_dir / "image" / "build-image.sh", [], progress)
    return out.strip().splitlines()[-1]


def build_repo(cfg: LabConfig, progress: Progress) -> None:
    _run_script(cfg.scripts_dir / "repo" / "build-repo.sh", [str(cfg.lab_dir)], progress)
    if not cfg.keyring.is_file():
        raise LabBuildError(f"repository build did not produce {cfg.keyring}")


def ensure_ssh_key(cfg: LabConfig, progress: Progress) -> Path:
    key = cfg.ssh_key
    if key.is_file() and key.with_suffix(".pub").is_file():
        return key
    key.parent.mkdir(parents=True, exist_ok=True)
    key.parent.chmod(0o700)
    for stale in (key, key.with_suffix(".pub")):
        stale.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "otorchestrator-lab", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    progress(f"[lab key] generated {key}")
    return key


def build_all(cfg: LabConfig, progress: Progress) -> str:
    """Image + repositories + SSH key; returns the image reference."""
    image = build_image(cfg, progress)
    build_repo(cfg, progress)
    ensure_ssh_key(cfg, progress)
    return image
