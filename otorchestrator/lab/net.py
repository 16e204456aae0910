"""Loopback probes: is a lab host's sshd answering on 127.0.0.1:<port>? (Never any other address.)"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable

LOOPBACK = "127.0.0.1"


def ssh_banner(port: int, timeout: float = 2.0) -> str | None:
    """The SSH banner of 127.0.0.1:port, or None when nothing answers like an sshd."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = sock.recv(64)
    except OSError:
        return None
    text = data.decode("ascii", "replace").strip()
    return text if text.startswith("SSH-") else None


def wait_for_ssh(ports: Iterable[int], timeout: float = 60.0) -> list[int]:
    """Wait until every port answers with an SSH banner; return the ports that never did."""
    pending = set(ports)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = {p for p in pending if ssh_banner(p, timeout=1.0) is None}
        if pending:
            time.sleep(0.3)
    return sorted(pending)
