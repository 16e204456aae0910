"""Where the lab lives and how this instance of it is named (environment: OTORCH_LAB_NAME,
OTORCH_LAB_PORT_OFFSET, and OTORCH_LAB_INVENTORY for a scale lab's generated inventory)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.resources import checkout_root

LABEL = "otorchestrator.lab"
HOST_LABEL = "otorchestrator.lab.host"
IMAGE_LABEL = "otorchestrator.lab.image"
OWNER_LABEL = "otorchestrator.lab.owner"
DEFAULT_NAME = "otlab"
_NAME_RE = re.compile(r"^[a-z][a-z0-9]{1,30}$")

Progress = Callable[[str], None]


def project_root() -> Path:
    """The project checkout holding ``lab/`` and ``inventories/lab``: $OTORCH_PROJECT_DIR, else the checkout
    this package was imported from, else (a wheel installed elsewhere) the working directory."""
    env = os.environ.get("OTORCH_PROJECT_DIR")
    return Path(env) if env else (checkout_root() or Path.cwd())


@dataclass(frozen=True)
class LabConfig:
    """One lab instance: its name (container prefix, label value, network) and port offset."""

    root: Path
    name: str = DEFAULT_NAME
    port_offset: int = 0
    inventory: Path | None = None  # another lab inventory (a scale lab's .lab/scale); default inventories/lab

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, root: Path | None = None) -> LabConfig:
        env = os.environ if env is None else env
        name = env.get("OTORCH_LAB_NAME", "") or DEFAULT_NAME
        if not _NAME_RE.match(name):
            raise ValueError(
                f"OTORCH_LAB_NAME={name!r}: use 2-31 lowercase letters/digits, starting with a letter"
            )
        try:
            offset = int(env.get("OTORCH_LAB_PORT_OFFSET", "") or 0)
        except ValueError as exc:
            raise ValueError(f"OTORCH_LAB_PORT_OFFSET must be an integer: {exc}") from None
        inventory = Path(env["OTORCH_LAB_INVENTORY"]).resolve() if env.get("OTORCH_LAB_INVENTORY") else None
        return cls(root=root or project_root(), name=name, port_offset=offset, inventory=inventory)

    @property
    def lab_dir(self) -> Path:
        return self.root / ".lab"

    @property
    def scripts_dir(self) -> Path:
        return self.root / "lab"

    @property
    def ssh_key(self) -> Path:
        return self.lab_dir / "ssh" / "id_ed25519"

    @property
    def repo_dir(self) -> Path:
        return self.lab_dir / "repo"

    @property
    def keyring(self) -> Path:
        return self.repo_dir / "keys" / "nwc-archive.gpg"

    @property
    def base_inventory_dir(self) -> Path:
        """The hand-written lab inventory (8 hosts)."""
        return self.root / "inventories" / "lab"

    @property
    def inventory_dir(self) -> Path:
        """The inventory this lab instance runs: a scale lab's generated one, or the lab inventory."""
        return self.inventory or self.base_inventory_dir

    @property
    def scale_dir(self) -> Path:
        """Where `otorch lab up --hosts N` writes a scale lab's inventory (N above the lab inventory's)."""
        return self.lab_dir / "scale"

    @property
    def network(self) -> str:
        return f"{self.name}-net"

    def container(self, host: str) -> str:
        return f"{self.name}-{host}"

    def port(self, base_port: int) -> int:
        return base_port + self.port_offset

    def owner(self) -> str:
        """Who a container belongs to: this checkout, its lab key and its archive key.

        A container left running by another checkout (an earlier session, or CI on the same machine) has a
        different owner: its repository mount, SSH key or signing key would not match ours, so it is
        recreated rather than kept."""
        digest = hashlib.sha256(str(self.root.resolve()).encode())
        for path in (self.ssh_key.with_suffix(".pub"), self.keyring):
            digest.update(path.read_bytes() if path.exists() else b"-")
        return digest.hexdigest()[:16]
