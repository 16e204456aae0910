"""Node set-up, air-gapped: the wheelhouse the controller carries, `otorch nodes bootstrap` (ansible-core and
ansible-runner installed on the node from it, no index) and `otorch nodes check` (versions, reachability,
which zone hosts the node reaches).

The pins are the controller's own ansible-core and ansible-runner: the streaming protocol (transmit, worker,
process) is spoken by the same ansible-runner at both ends, and the phase playbooks run on the same
ansible-core as with the local backend."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from otorchestrator.nodes import ssh
from otorchestrator.nodes.config import Node, NodesConfig

PINNED = ("ansible-core", "ansible-runner")
NODE_PYTHON = "3.11"  # the nodes' python3 (Debian 12); the wheelhouse holds wheels for it
STAMP = "otorch-wheelhouse.json"

Progress = Callable[[str], None]


def pins() -> dict[str, str]:
    """package -> version: what the controller runs, and so what every node must run."""
    return {name: metadata.version(name) for name in PINNED}


class WheelhouseError(RuntimeError):
    pass


def ensure_wheelhouse(directory: Path, progress: Progress, python: str = NODE_PYTHON) -> Path:
    """The wheelhouse for the pins (downloaded once with pip; kept while the pins are unchanged)."""
    pinned = pins()
    want: dict[str, object] = {"pins": pinned, "python": python}
    stamp = directory / STAMP
    if stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == want:
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    progress(f"wheelhouse: downloading {', '.join(f'{k}=={v}' for k, v in pinned.items())} into {directory}")
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--only-binary=:all:",
        "--python-version",
        python,
    ]
    argv += ["-d", str(directory), "pip", *(f"{k}=={v}" for k, v in pinned.items())]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise WheelhouseError(f"pip download failed: {proc.stderr.strip()[-800:]}")
    stamp.write_text(json.dumps(want, sort_keys=True), encoding="utf-8")
    return directory


def _tar(directory: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(directory.glob("*.whl")):
            tar.add(path, arcname=path.name)
    return buf.getvalue()


@dataclass(frozen=True)
class NodeReport:
    node: str
    ok: bool
    detail: str
    versions: dict[str, str] = field(default_factory=dict)


def venv_of(node: Node) -> str:
    return str(Path(node.runner).parent.parent)


def node_versions(config: NodesConfig, node: Node) -> dict[str, str]:
    """ansible-core / ansible-runner installed in the node's venv (empty when absent)."""
    probe = (
        "import importlib.metadata as m, json, sys\n"
        "out = {'python': '%d.%d.%d' % sys.version_info[:3]}\n"
        f"for p in {list(PINNED)!r}:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    python = f"{venv_of(node)}/bin/python"
    remote = f"test -x {shlex.quote(python)} && {shlex.quote(python)} -c {shlex.quote(probe)} || echo '{{}}'"
    proc = ssh.run(config, node, remote, timeout=node.connect_timeout_s + 20)
    try:
        data = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def bootstrap(config: NodesConfig, node: Node, wheelhouse: Path) -> NodeReport:
    """Install the pinned ansible-core and ansible-runner on the node from the wheelhouse (sent over SSH,
    unpacked in a temporary directory, removed after); nothing is fetched by the node."""
    want = pins()
    try:
        have = node_versions(config, node)
        if all(have.get(k) == v for k, v in want.items()):
            return NodeReport(node.name, True, "already at the pinned versions", have)
        venv = shlex.quote(venv_of(node))
        reqs = " ".join(shlex.quote(f"{k}=={v}") for k, v in want.items())
        script = (
            'set -e; d=$(mktemp -d); trap \'rm -rf "$d"\' EXIT; tar -C "$d" -xf -; '
            f"python3 -m venv --without-pip {venv}; "
            f'{venv}/bin/python "$(ls "$d"/pip-*.whl | head -1)"/pip install --quiet --no-index '
            f'--disable-pip-version-check --find-links "$d" {reqs}'
        )
        proc = ssh.run(config, node, script, stdin=_tar(wheelhouse), timeout=600)
        if proc.returncode != 0:
            return NodeReport(node.name, False, proc.stderr.decode("utf-8", "replace").strip()[-500:])
        have = node_versions(config, node)
    except ssh.NodeUnreachable as exc:
        return NodeReport(node.name, False, f"unreachable: {exc}")
    ok = all(have.get(k) == v for k, v in want.items())
    return NodeReport(node.name, ok, "installed" if ok else f"versions after install: {have}", have)


def bootstrap_all(config: NodesConfig, wheelhouse: Path, progress: Progress) -> list[NodeReport]:
    def one(node: Node) -> NodeReport:
        report = bootstrap(config, node, wheelhouse)
        progress(f"  {node.name}: {report.detail} {report.versions}")
        return report

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, config.nodes))


@dataclass(frozen=True)
class HostReach:
    host: str
    address: str
    port: int
    reachable: bool
    detail: str = ""


@dataclass(frozen=True)
class NodeCheck:
    node: str
    reachable: bool
    detail: str
    versions: dict[str, str] = field(default_factory=dict)
    pinned: bool = False
    hosts: tuple[HostReach, ...] = ()


def check(config: NodesConfig, node: Node, targets: Mapping[str, tuple[str, int]]) -> NodeCheck:
    """Reachability, versions against the pins, and a TCP connect from the node to each zone host's SSH
    port (`targets`: host -> (address, port))."""
    try:
        versions = node_versions(config, node)
        reach = _reach_from(config, node, targets)
    except ssh.NodeUnreachable as exc:
        return NodeCheck(node.name, False, str(exc))
    want = pins()
    pinned = all(versions.get(k) == v for k, v in want.items())
    detail = "at the pins" if pinned else "not at the pins " + ", ".join(f"{k}=={v}" for k, v in want.items())
    return NodeCheck(node.name, True, detail, versions, pinned, reach)


_REACH = """
import json, socket, sys
out = {}
for host, (addr, port) in json.loads(sys.argv[1]).items():
    try:
        socket.create_connection((addr, int(port)), timeout=3).close(); out[host] = ""
    except OSError as exc:
        out[host] = str(exc) or type(exc).__name__
print(json.dumps(out))
"""


def _reach_from(
    config: NodesConfig, node: Node, targets: Mapping[str, tuple[str, int]]
) -> tuple[HostReach, ...]:
    if not targets:
        return ()
    arg = json.dumps({h: list(t) for h, t in targets.items()})
    proc = ssh.run(
        config, node, ["python3", "-c", _REACH, arg], timeout=node.connect_timeout_s + 5 * len(targets)
    )
    try:
        seen = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        seen = {h: "no answer from the probe" for h in targets}
    return tuple(
        HostReach(h, a, p, seen.get(h, "?") == "", seen.get(h, "?")) for h, (a, p) in sorted(targets.items())
    )


def checks(config: NodesConfig, targets: Mapping[str, Mapping[str, tuple[str, int]]]) -> list[NodeCheck]:
    """`check` for every node (in parallel); `targets`: node -> its zone hosts' addresses."""
    nodes: Iterable[Node] = config.nodes
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda n: check(config, n, targets.get(n.name, {})), nodes))
