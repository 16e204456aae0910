"""The inputs of a plan: the inventory fingerprint covers exactly what Ansible reads, from any directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from otorchestrator.intake.ansible_source import inventory_files, read_ansible_inventory, site_ignores
from otorchestrator.intake.inventory import read_inventory
from otorchestrator.intake.plan_inputs import inventory_digest

ROOT = Path(__file__).parents[2]
LAB = ROOT / "inventories" / "lab"
MAIN = "import sys; from otorchestrator.cli.main import main; sys.argv[0] = 'otorch'; main()"
PRECEDENCE = ROOT / "tests" / "fixtures" / "inventories" / "precedence"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


SITE = {
    "hosts.yml": "all: {hosts: {h1: {}}}\n",
    "more.yaml": "all: {hosts: {h2: {}}}\n",
    "legacy.ini": "h3\n",
    "dynamic.json": '{"all": {"hosts": {"h4": {}}}}\n',
    "north/hosts.yml": "all: {hosts: {h5: {}}}\n",
    "group_vars/all.yml": "ot_site: s\n",
    "group_vars/plcs/one.yaml": "ot_zone: z\n",
    "host_vars/h1.json": '{"ot_role": "hmi"}\n',
    # not inventory: Ansible's ignored extensions and hidden files, and the site's own data files
    "README.md": "notes\n",
    ".hidden.yml": "x: 1\n",
    "hosts.yml.bak": "x\n",
    "group_vars/.swap.yml": "x: 1\n",
    "group_vars/all.yml~": "x: 1\n",
    "group_vars/notes.txt": "x\n",
    "policy.yml": "max_hosts_per_wave: 3\n",
    "catalog.yml": "patches: []\n",
    "exemptions.yml": "exemptions: []\n",
    "approvals.lab.yml": "approvals: []\n",
    "kev.json": "{}\n",
    "advisories/a.json": "{}\n",
}


def test_inventory_files_are_what_ansible_reads(tmp_path: Path) -> None:
    site = _tree(tmp_path / "site", SITE)
    assert [name for name, _ in inventory_files(site)] == [
        "dynamic.json",
        "hosts.yml",
        "legacy.ini",
        "more.yaml",
        "north/hosts.yml",
        "group_vars/all.yml",
        "group_vars/plcs/one.yaml",
        "host_vars/h1.json",
    ]
    # a file inventory: the file, plus group_vars/ and host_vars/ next to it
    assert [name for name, _ in inventory_files(site / "legacy.ini")] == [
        "legacy.ini",
        "group_vars/all.yml",
        "group_vars/plcs/one.yaml",
        "host_vars/h1.json",
    ]


def test_inventory_digest_follows_the_files_ansible_reads(tmp_path: Path) -> None:
    site = _tree(tmp_path / "site", SITE)
    before = inventory_digest(site)
    for name in ("policy.yml", "catalog.yml", "kev.json", "advisories/a.json", "README.md"):
        (site / name).write_text("changed\n")
    assert inventory_digest(site) == before  # not inventory
    for name in ("more.yaml", "legacy.ini", "dynamic.json", "group_vars/plcs/one.yaml", "host_vars/h1.json"):
        old = (site / name).read_text()
        (site / name).write_text(old + "# changed\n")
        assert inventory_digest(site) != before, name
        (site / name).write_text(old)
    assert inventory_digest(site) == before
    file_before = inventory_digest(site / "hosts.yml")
    (site / "host_vars" / "h1.json").write_text('{"ot_role": "plc"}\n')
    assert inventory_digest(site / "hosts.yml") != file_before  # host_vars next to a file inventory


def test_inventory_digest_keys_files_by_relative_path(tmp_path: Path) -> None:
    one = _tree(tmp_path / "one", {"a/hosts.yml": "A\n", "b/hosts.yml": "B\n"})
    swapped = _tree(tmp_path / "two", {"a/hosts.yml": "B\n", "b/hosts.yml": "A\n"})
    same = _tree(tmp_path / "elsewhere" / "three", {"a/hosts.yml": "A\n", "b/hosts.yml": "B\n"})
    assert inventory_digest(one) != inventory_digest(swapped)
    assert inventory_digest(one) == inventory_digest(same)


def test_precedence_fixture_digest_covers_its_ini_json_and_yaml() -> None:
    names = {name for name, _ in inventory_files(PRECEDENCE)}
    assert {n.rsplit(".", 1)[-1] for n in names} >= {"ini", "json", "yaml"}


def test_site_inventory_validates_from_another_directory(tmp_path: Path) -> None:
    """`otorch inventory validate -i site` where the repository's ansible.cfg (and its ignore_patterns) is
    not: the site's policy.yml, catalog.yml, exemptions.yml, kev.json and advisories/ are still not read
    as inventory. A fresh process: ansible-core reads its configuration once, at import."""
    site = tmp_path / "site"
    shutil.copytree(LAB, site)
    (site / "approvals.yml").write_text("approvals: []\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", MAIN, "inventory", "validate", "-i", "site", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["assets"] == len(read_inventory([LAB]).inventory.assets)
    assert not [n for n in report["notes"] if "policy" in str(n) or "catalog" in str(n)]


def test_site_ignores_restores_ansibles_patterns() -> None:
    from ansible.inventory import manager

    saved = manager.IGNORED
    with site_ignores():
        assert manager.IGNORED.search(b"policy.yml") and manager.IGNORED.search(b"advisories")
        assert not manager.IGNORED.search(b"hosts.yml")
        with site_ignores():  # nested: the patterns are not added twice
            assert manager.IGNORED.pattern.count(b"advisories") == saved.pattern.count(b"advisories") + 1
    assert manager.IGNORED is saved


def test_a_second_read_after_a_change_of_directory_sees_its_own_group_vars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ansible's host_group_vars plugin caches the real path of a source by the path as given ("site"):
    the second read must not get the first directory's group_vars."""
    for name in ("one", "two"):
        _tree(tmp_path / name / "site", {"hosts.yml": "all: {hosts: {h1: {}}}\n"})
        _tree(tmp_path / name / "site", {"group_vars/all.yml": f"ot_marker: {name}\n"})
    seen = []
    for name in ("one", "two"):
        monkeypatch.chdir(tmp_path / name)
        [host] = read_ansible_inventory(["site"]).hosts
        seen.append(host.variables["ot_marker"])
    assert seen == ["one", "two"]
