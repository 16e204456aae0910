"""The in-memory secret channel of the backend: a 0600 JSON file on a RAM filesystem (/dev/shm), named
after the pid that owns it, removed after the phase run; stale ones (their owner died, e.g. kill -9) are
swept at startup. There is no fallback to disk: without a RAM filesystem a run with secrets is refused.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

SHM_DIR = Path("/dev/shm")
PREFIX = "otorch-secrets-"
_NAME = re.compile(rf"^{re.escape(PREFIX)}(\d+)-[^/]*\.json$")


class SecretChannelUnavailable(RuntimeError):
    """No RAM filesystem to hand secrets to ansible-playbook: refusing to write them to disk."""


def channel_problem(shm: Path = SHM_DIR) -> str | None:
    """Why secrets cannot be passed (None: they can)."""
    if not shm.is_dir() or not os.access(shm, os.W_OK | os.X_OK):
        return (
            f"{shm} (a RAM filesystem) is not available or not writable: secret variables are only "
            "handed to ansible-playbook through a file in RAM, never on disk; mount a tmpfs on "
            f"{shm} or run without --secret-var"
        )
    return None


def write_secret_file(secret_vars: Mapping[str, str], shm: Path = SHM_DIR) -> Path:
    """A 0600 JSON file of the secrets in `shm`, named after this process. Raises
    `SecretChannelUnavailable` rather than falling back to a disk-backed temporary directory."""
    problem = channel_problem(shm)
    if problem is not None:
        raise SecretChannelUnavailable(problem)
    fd, name = tempfile.mkstemp(prefix=f"{PREFIX}{os.getpid()}-", suffix=".json", dir=shm)
    with os.fdopen(fd, "w") as handle:  # mkstemp: mode 0600
        json.dump(dict(secret_vars), handle)
    return Path(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def sweep_stale_secret_files(shm: Path = SHM_DIR) -> list[Path]:
    """Remove the secret files whose owning process is dead (left by a kill -9); returns them."""
    removed: list[Path] = []
    if not shm.is_dir():
        return removed
    for entry in shm.iterdir():
        match = _NAME.match(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        try:
            entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed
