"""The Ansible collection otorchestrator.ot: built from roles/ and playbooks/ by scripts/build-collection.sh
with `ansible-galaxy collection build`, installed from its tarball into a temp collections path, and run by
the orchestrator against the lab through its FQCN playbooks.

The wheel installed into a clean venv outside the checkout (plan -> waves -> run --check) is
scripts/test-package.sh, which CI runs after pytest (scripts/run-tests.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from _roles_helpers import patch_entry

import otorchestrator
from otorchestrator.execution.ansible import AnsibleRunnerBackend
from otorchestrator.execution.backend import PhaseRequest
from otorchestrator.execution.inventory import phase_inventory
from otorchestrator.lab.handle import LabHandle
from otorchestrator.models.results import Phase
from otorchestrator.resources import COLLECTION, AnsibleContent, ansible_content

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())
PLAYBOOKS = sorted(p.stem for p in (ROOT / "playbooks").glob("*.yml"))


def _build(out: Path) -> Path:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-collection.sh"), str(out), str(out / "stage" / COLLECTION)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("collection"))


@pytest.fixture(scope="module")
def installed(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tarball installed with ansible-galaxy into a temp collections path (its dependencies ansible.utils
    and ansible.windows are the checkout's .collections: Galaxy is unreachable here)."""
    path = tmp_path_factory.mktemp("collections")
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": f"{path}:{ROOT / '.collections'}"}
    proc = subprocess.run(
        ["ansible-galaxy", "collection", "install", "--offline", "-p", str(path), str(tarball)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "otorchestrator.ot:" in proc.stdout
    yield path


def test_the_collection_holds_every_role_and_phase_playbook_under_fqcn(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("MANIFEST.json"))  # type: ignore[arg-type]
        playbooks = {n: tar.extractfile(n).read().decode() for n in names if n.startswith("playbooks/")}  # type: ignore[union-attr]
        runtime = yaml.safe_load(tar.extractfile("meta/runtime.yml"))  # type: ignore[arg-type]
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"]) == tuple(COLLECTION.split("."))
    assert info["version"] == otorchestrator.__version__
    assert info["license"] == ["Apache-2.0"]
    assert set(info["dependencies"]) == {"ansible.utils", "ansible.windows"}
    assert runtime["requires_ansible"].startswith(">=2.19")
    assert {"LICENSE", "CHANGELOG.md", "README.md", "docs/playbooks.md"} <= names
    for role in ROLES:
        assert f"roles/{role}/tasks/main.yml" in names
        assert f"roles/{role}/meta/argument_specs.yml" in names
    assert sorted(Path(n).stem for n in playbooks if n.endswith(".yml")) == PLAYBOOKS
    text = "\n".join(playbooks.values())
    for role in ROLES:  # every role a playbook names is named by FQCN, never by its short name
        assert f": {role}\n" not in text
    assert f"role: {COLLECTION}.ot_scan" in text and f"name: {COLLECTION}.ot_backup" in text
    assert f"import_playbook: {COLLECTION}.backup" in text


def test_galaxy_yml_has_the_package_version() -> None:
    galaxy = yaml.safe_load((ROOT / "collection" / "galaxy.yml").read_text())
    assert galaxy["version"] == otorchestrator.__version__


def test_every_playbook_of_the_installed_collection_passes_syntax_check(installed: Path) -> None:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": f"{installed}:{ROOT / '.collections'}"}
    env["ANSIBLE_ROLES_PATH"] = str(installed / "no-roles-here")  # the roles must come from the collection
    proc = subprocess.run(  # one ansible-playbook for all of them (about 1 s of start-up each)
        ["ansible-playbook", "--syntax-check", "-i", "localhost,", *(f"{COLLECTION}.{n}" for n in PLAYBOOKS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    where = installed / "ansible_collections" / "otorchestrator" / "ot" / "playbooks"
    for name in PLAYBOOKS:
        assert f"playbook: {where / name}.yml" in proc.stdout


@pytest.mark.lab
def test_the_orchestrator_runs_diagnostics_from_the_installed_collection(
    lab: LabHandle, installed: Path, tmp_path: Path
) -> None:
    content = AnsibleContent(ansible_content().root, "checkout", collection=COLLECTION)
    env = {
        **lab.runner_envvars(),
        "ANSIBLE_COLLECTIONS_PATH": f"{installed}:{ROOT / '.collections'}",
        "ANSIBLE_ROLES_PATH": str(tmp_path / "no-roles-here"),  # a short role name would fail to resolve
    }
    backend = AnsibleRunnerBackend(tmp_path / "state", content=content, extra_env=env)
    host = "nw-hmi-01"
    outcome = backend.run_phase(
        PhaseRequest(
            phase=Phase.DIAGNOSTICS,
            hosts=(host,),
            inventory=phase_inventory(lab.inventory / "hosts.yml", (host,)),
            extravars={"otorch_patches": {host: [patch_entry(lab, "nwc-hmi-runtime")]}},
            check_mode=True,
            run_label="itest-collection",
            timeout_s=600,
        )
    )
    assert outcome.results[host].ok, outcome.results[host]
    events = [json.loads(p.read_text()) for p in (outcome.artifact_dir / "job_events").glob("*.json")]
    playbooks = {e["event_data"].get("playbook") for e in events} - {None}
    assert playbooks == {str(installed / "ansible_collections/otorchestrator/ot/playbooks/diagnostics.yml")}
    role_tasks = {
        e["event_data"].get("task_path", "").split(":")[0] for e in events if e.get("event") == "runner_on_ok"
    }
    assert any("/ansible_collections/otorchestrator/ot/roles/ot_diagnostics/tasks/" in p for p in role_tasks)
    assert not any(str(ROOT / "roles") in p for p in role_tasks)
    # the collection's action plugin ran the module's code without AnsiballZ (module_utils found by import)
    oks = [e["event_data"] for e in events if e.get("event") == "runner_on_ok"]
    probe = [d["res"] for d in oks if d.get("task_action", "").endswith("probe")]
    assert [r.get("otorch_ran") for r in probe] == ["direct"], probe
