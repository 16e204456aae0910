"""What a node job carries and brings back (nodes/backend.py): the job's private data dir on the controller
(the phase playbooks, roles and collections, an ansible.cfg of its own, the zone hosts' inventory and their
SSH key), the backups a rollback reads sent inside the job, and the backups made on the node copied from the
returned artifacts into the controller's backup store."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otorchestrator.execution.ansible import job_inventory
from otorchestrator.execution.backend import HostsInventory
from otorchestrator.resources import AnsibleContent

COLLECTIONS = ("ansible.utils",)  # what the roles use beyond ansible.builtin (ansible.utils.keep_keys)
JOB_CFG = """[defaults]
roles_path = roles
collections_path = collections
host_key_checking = False
retry_files_enabled = False
interpreter_python = auto_silent
timeout = 20
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=15
"""


def build(content: AnsibleContent, pdd: Path, hosts: list[str], inventory: HostsInventory) -> str | None:
    """The job directory (``pdd/job``: project + inventory); returns the zone hosts' SSH key text."""
    job = pdd / "job"
    project = job / "project"
    shutil.copytree(content.playbooks_dir, project / "playbooks")
    shutil.copytree(content.roles_dir, project / "roles")
    for fqcn in COLLECTIONS:
        found = _collection(fqcn, content.root)
        if found is not None:
            shutil.copytree(found, project / "collections" / "ansible_collections" / Path(*fqcn.split(".")))
    (project / "ansible.cfg").write_text(JOB_CFG, encoding="utf-8")
    keys: set[str] = set()
    hostvars: dict[str, Any] = {}
    for h in hosts:
        hv = dict(inventory.hosts[h])  # {{ inventory_dir }} already the source's (execution/inventory.py)
        key = hv.pop("ansible_ssh_private_key_file", None) or hv.pop("ansible_private_key_file", None)
        if key:
            keys.add(str(key))
        args = str(hv.get("ansible_ssh_common_args", ""))
        hv["ansible_ssh_common_args"] = args.replace("-o IdentitiesOnly=yes", "").strip()
        hostvars[h] = hv
    if len(keys) > 1:
        raise ValueError(f"hosts {', '.join(hosts)} use different SSH keys: one key per zone job")
    (job / "inventory").mkdir(parents=True)
    target = job / "inventory" / "hosts.json"
    target.write_text(json.dumps(job_inventory(inventory, hosts, hostvars), sort_keys=True))
    target.chmod(0o600)
    return Path(next(iter(keys))).read_text(encoding="utf-8") if keys else None


def seed_backups(backup_dir: Path, pdd: Path, hosts: list[str], extravars: Mapping[str, Any]) -> None:
    """The backups a rollback (or backup_verify) of these hosts reads go to the node inside the job."""
    ids = extravars.get("otorch_backup_ids") or {}
    for host in hosts:
        bid = ids.get(host) if isinstance(ids, Mapping) else None
        if not bid:
            continue
        for suffix in (".tar.gz", ".json"):
            src = backup_dir / str(bid) / f"{host}{suffix}"
            if src.is_file():
                dest = pdd / "job" / "artifacts" / "run" / "backups" / str(bid) / src.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)


def collect_backups(backup_dir: Path, pdd: Path, hosts: list[str]) -> None:
    """Backups made on the node (they came back with the artifacts) into the controller's store."""
    back = pdd / "job" / "artifacts" / "run" / "backups"
    for path in back.glob("*/*") if back.is_dir() else ():
        host = path.name.removesuffix(".tar.gz").removesuffix(".json")
        if host in hosts and path.is_file() and not path.is_symlink():
            dest = backup_dir / path.parent.name / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)


def _collection(fqcn: str, root: Path) -> Path | None:
    paths = [*os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep), str(root / ".collections")]
    for base in paths:
        candidate = Path(base) / "ansible_collections" / Path(*fqcn.split("."))
        if base and candidate.is_dir():
            return candidate
    return None
