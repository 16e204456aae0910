"""SSH from the controller to an execution node (the OpenSSH client): the node's host key pinned, batch mode,
the configured key only, a dead link noticed within seconds (ServerAlive)."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from otorchestrator.nodes.config import Node, NodesConfig

ALIVE_INTERVAL_S = 5  # a silent link is given up after ServerAliveCountMax * this
ALIVE_COUNT = 3


def clean_env() -> dict[str, str]:
    """Our environment without a local job's run token: a local job running beside a node job in this
    process sweeps every process carrying its token (execution/ansible.py), so ours never carry one."""
    return {k: v for k, v in os.environ.items() if k != "OTORCH_RUN_TOKEN"}


class NodeUnreachable(RuntimeError):
    """The node did not answer over SSH (or its host key is not the pinned one)."""


def known_hosts(node: Node, directory: Path) -> Path:
    """A known_hosts file holding exactly the pinned key of this node."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    host = node.host if node.port == 22 else f"[{node.host}]:{node.port}"
    path = directory / f"known_hosts-{node.name}"
    path.write_text(f"{host} {node.host_key}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def ssh_argv(config: NodesConfig, node: Node, pins: Path, remote: Sequence[str] | str) -> list[str]:
    """``ssh ... node -- remote``: `remote` is quoted for the node's shell when it is a list."""
    command = remote if isinstance(remote, str) else shlex.join(remote)
    return [
        "ssh",
        "-T",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts(node, pins)}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes",
        "-o", "ControlMaster=no",
        "-o", f"ConnectTimeout={int(node.connect_timeout_s)}",
        "-o", f"ServerAliveInterval={ALIVE_INTERVAL_S}",
        "-o", f"ServerAliveCountMax={ALIVE_COUNT}",
        "-o", "LogLevel=ERROR",
        "-i", str(config.key_path(node)),
        "-p", str(node.port),
        "-l", node.user,
        node.host,
        "--",
        command,
    ]  # fmt: skip


def run(
    config: NodesConfig,
    node: Node,
    remote: Sequence[str] | str,
    *,
    stdin: bytes | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command on the node; NodeUnreachable when SSH itself failed (rc 255) or timed out."""
    with tempfile.TemporaryDirectory(prefix="otnode-") as tmp:
        argv = ssh_argv(config, node, Path(tmp), remote)
        try:
            proc = subprocess.run(
                argv, input=stdin, capture_output=True, timeout=timeout, check=False, env=clean_env()
            )
        except subprocess.TimeoutExpired as exc:
            raise NodeUnreachable(
                f"{node.name} ({node.host}:{node.port}): no answer in {timeout:.0f} s"
            ) from exc
    if proc.returncode == 255:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise NodeUnreachable(
            f"{node.name} ({node.host}:{node.port}): {reason[-1] if reason else 'ssh failed'}"
        )
    return proc
