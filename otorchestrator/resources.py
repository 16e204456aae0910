"""Where the Ansible content the orchestrator runs lives: phase playbooks, roles and the ansible.cfg defaults.

Three places, in this order:

1. ``OTORCH_PROJECT_DIR``: a directory holding ``playbooks/``, ``roles/`` and ``ansible.cfg`` (a checkout,
   or a site's copy of the content);
2. package data, found through importlib.resources: ``otorchestrator/ansible_content/``, which the wheel's
   build step (setup.py) copies from the checkout's ``playbooks/``, ``roles/`` and ``ansible.cfg`` (one copy
   in git);
3. the checkout this module was imported from (PYTHONPATH or an editable install), when it has those three.

``OTORCH_ANSIBLE_COLLECTION=otorchestrator.ot`` runs the phase playbooks of that installed collection instead
(``otorchestrator.ot.scan``, ...; built by scripts/build-collection.sh), found on ANSIBLE_COLLECTIONS_PATH.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE_CONTENT_DIR = "ansible_content"
"""The package-data directory of the wheel (``otorchestrator/ansible_content``)."""
CONTENT_ITEMS = ("playbooks", "roles", "ansible.cfg")
"""What the wheel's build step copies from the checkout, and what every content root holds."""
COLLECTION = "otorchestrator.ot"
"""The FQCN namespace.name of the collection scripts/build-collection.sh builds."""
PROJECT_DIR_ENV = "OTORCH_PROJECT_DIR"
COLLECTION_ENV = "OTORCH_ANSIBLE_COLLECTION"
_FQCN = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


class ContentNotFound(RuntimeError):
    """No playbooks/roles/ansible.cfg where the orchestrator looked; the message names the places."""


@dataclass(frozen=True)
class AnsibleContent:
    """The phase playbooks and roles one orchestrator process runs.

    `origin` says where `root` came from: ``env`` (OTORCH_PROJECT_DIR), ``package`` (wheel package data) or
    ``checkout``. With `collection` set, `playbook()` names the collection's playbook by FQCN."""

    root: Path
    origin: str
    collection: str | None = None

    @property
    def ansible_cfg(self) -> Path:
        return self.root / "ansible.cfg"

    @property
    def roles_dir(self) -> Path:
        return self.root / "roles"

    @property
    def playbooks_dir(self) -> Path:
        return self.root / "playbooks"

    def playbook(self, phase: str) -> str:
        """What ansible-playbook is given for a phase: ``<collection>.<phase>`` or the playbook's path."""
        if self.collection is not None:
            return f"{self.collection}.{phase}"
        return str(self.playbooks_dir / f"{phase}.yml")


def ansible_content(env: Mapping[str, str] | None = None) -> AnsibleContent:
    """The content this process runs (see the module docstring for the order); ContentNotFound if none."""
    env = os.environ if env is None else env
    collection = env.get(COLLECTION_ENV, "").strip() or None
    if collection is not None and not _FQCN.match(collection):
        raise ValueError(
            f"{COLLECTION_ENV}={collection!r}: expected a collection name namespace.name, e.g. {COLLECTION}"
        )
    explicit = env.get(PROJECT_DIR_ENV, "").strip()
    if explicit:
        root = Path(explicit).resolve()
        missing = _missing(root)
        if missing:
            raise ContentNotFound(f"{PROJECT_DIR_ENV}={explicit}: no {', '.join(missing)} in {root}")
        return AnsibleContent(root=root, origin="env", collection=collection)
    packaged = package_content_dir()
    if packaged is not None and not _missing(packaged):
        return AnsibleContent(root=packaged, origin="package", collection=collection)
    checkout = checkout_root()
    if checkout is not None:
        return AnsibleContent(root=checkout, origin="checkout", collection=collection)
    raise ContentNotFound(
        "no Ansible content (playbooks/, roles/, ansible.cfg): not in the installed package "
        f"({packaged or 'otorchestrator/' + PACKAGE_CONTENT_DIR}), and this is not a checkout; "
        f"reinstall the otorchestrator wheel or set {PROJECT_DIR_ENV} to a directory holding them"
    )


def package_content_dir() -> Path | None:
    """``otorchestrator/ansible_content`` of the installed package, if it is a directory on disk."""
    traversable = importlib.resources.files("otorchestrator") / PACKAGE_CONTENT_DIR
    if isinstance(traversable, Path) and traversable.is_dir():
        return traversable.resolve()
    return None


def checkout_root() -> Path | None:
    """The checkout holding this package (its parent directory has pyproject.toml, playbooks, roles and
    ansible.cfg); None when the package is installed elsewhere (site-packages)."""
    candidate = Path(__file__).resolve().parents[1]
    if (candidate / "pyproject.toml").is_file() and not _missing(candidate):
        return candidate
    return None


def _missing(root: Path) -> list[str]:
    return [item for item in CONTENT_ITEMS if not (root / item).exists()]
