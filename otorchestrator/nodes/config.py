"""The site's execution nodes (``nodes.yml``, beside the inventory, or ``$OTORCH_NODES``): how the controller
reaches each node, which zones it serves, its capacity. docs/nodes.md.

```yaml
schema_version: 1
require_nodes: true            # every zone with hosts runs through a node; or a list of zones; false: none
nodes:
  - name: node-cell-a
    host: 10.20.0.5            # how the controller reaches the node (SSH)
    port: 22
    user: otorch
    key: keys/node-cell-a      # the controller's key for the node (relative to this file)
    host_key: ssh-ed25519 AAAAC3Nz...   # pinned: the node's public host key (nothing else is accepted)
    zones: [cell-a-control]
    forks: 10
```

Errors name the file, the line and the field (``nodes.yml:7: nodes[0].zones: ...``) and suggest the close
spelling of an unknown field or zone.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

NODES_FILE = "nodes.yml"
NODES_ENV = "OTORCH_NODES"
DEFAULT_RUNNER = "/opt/otorch-node/venv/bin/ansible-runner"
_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")


class NodesConfigError(ValueError):
    """The node configuration is unusable; `problems` are ``file:line: field: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(default="root", pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")
    key: Path  # the controller's private key for this node; relative to the nodes file
    host_key: str  # "ssh-ed25519 AAAA...": pinned, StrictHostKeyChecking against exactly this key
    zones: tuple[str, ...] = Field(min_length=1)
    forks: int = Field(default=5, ge=1, le=500)
    runner: str = DEFAULT_RUNNER  # ansible-runner on the node (what `otorch nodes bootstrap` installs)
    work_dir: str = "/dev/shm"  # where the worker unpacks a job: RAM, so no secret reaches the node's disk
    connect_timeout_s: float = Field(default=10, gt=0, le=120)

    @field_validator("host_key")
    @classmethod
    def _pinned(cls, value: str) -> str:
        parts = value.split()
        if len(parts) < 2 or parts[0] not in _KEY_TYPES:
            raise ValueError(f"expected '<type> <base64>' with type one of {', '.join(_KEY_TYPES)}")
        return f"{parts[0]} {parts[1]}"

    @field_validator("work_dir", "runner")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must be an absolute path on the node")
        return value


class NodesConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    require_nodes: bool | tuple[str, ...] = False
    nodes: tuple[Node, ...] = ()
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique(self) -> NodesConfig:
        seen: dict[str, str] = {}
        names = [n.name for n in self.nodes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"node names used twice: {', '.join(dup)}")
        for node in self.nodes:
            for zone in node.zones:
                if zone in seen:
                    raise ValueError(
                        f"zone {zone!r} is served by {seen[zone]} and {node.name}: one node per zone"
                    )
                seen[zone] = node.name
        return self

    def node_for(self, zone: str) -> Node | None:
        return next((n for n in self.nodes if zone in n.zones), None)

    def requires(self, zone: str) -> bool:
        if isinstance(self.require_nodes, bool):
            return self.require_nodes
        return zone in self.require_nodes

    def key_path(self, node: Node) -> Path:
        base = self.source.parent if self.source is not None else Path.cwd()
        return (base / node.key).resolve() if not node.key.is_absolute() else node.key


def nodes_file(inventory: Path, env: Mapping[str, str] | None = None) -> Path | None:
    """$OTORCH_NODES, else ``nodes.yml`` in the inventory's directory; None when there is none."""
    env = os.environ if env is None else env
    if env.get(NODES_ENV):
        return Path(env[NODES_ENV])
    inv = Path(inventory)
    candidate = (inv if inv.is_dir() else inv.parent) / NODES_FILE
    return candidate if candidate.is_file() else None


def load_nodes(path: Path) -> NodesConfig:
    """Read and validate a nodes file; NodesConfigError with file:line: field lines."""
    try:
        text = path.read_text(encoding="utf-8")
        tree = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise NodesConfigError([f"{path}: cannot read: {exc}"]) from exc
    if not isinstance(data, dict):
        raise NodesConfigError([f"{path}:1: expected a mapping with 'nodes:'"])
    try:
        return NodesConfig.model_validate({**data, "source": path.resolve()})
    except ValidationError as exc:
        raise NodesConfigError([_problem(path, tree, err) for err in exc.errors()]) from exc


def check_zones(config: NodesConfig, zone_hosts: Mapping[str, Iterable[str]]) -> list[str]:
    """Problems between the nodes and the inventory's zones (`zone_hosts`: zone -> its hosts)."""
    where = f"{config.source}" if config.source else NODES_FILE
    known = sorted(zone_hosts)
    problems: list[str] = []
    for i, node in enumerate(config.nodes):
        for zone in node.zones:
            if zone not in zone_hosts:
                problems.append(
                    f"{where}: nodes[{i}].zones: {node.name} serves unknown zone {zone!r}{_hint(zone, known)}"
                )
    required = (
        [z for z in known if config.requires(z)]
        if isinstance(config.require_nodes, bool)
        else list(config.require_nodes)
    )
    for zone in required:
        if zone not in zone_hosts:
            problems.append(f"{where}: require_nodes: unknown zone {zone!r}{_hint(zone, known)}")
        elif config.node_for(zone) is None and list(zone_hosts[zone]):
            hosts = ", ".join(sorted(zone_hosts[zone]))
            problems.append(
                f"{where}: require_nodes: zone {zone!r} has hosts ({hosts}) and no node serves it"
            )
    return problems


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_FIELDS = {"root": list(NodesConfig.model_fields), "node": list(Node.model_fields)}


def _problem(path: Path, tree: Any, err: Mapping[str, Any]) -> str:
    loc = [p for p in err.get("loc", ()) if p not in ("tagged-union",)]
    node, line = tree, 1
    for part in loc:
        found = _child(node, part)
        if found is None:
            break
        key_node, node = found
        line = (key_node or node).start_mark.line + 1
    field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    message = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden" and loc:
        choices = _FIELDS["node" if len(loc) > 2 else "root"]
        message = f"unknown field{_hint(str(loc[-1]), choices)}"
    return f"{path}:{line}: {field or '(top)'}: {message}"


def _child(node: Any, part: Any) -> tuple[Any, Any] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return key, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return None, node.value[part]
    return None
