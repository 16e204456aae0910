"""otorchestrator/resources.py: where the playbooks, roles and ansible.cfg are found, and what
ansible-playbook is given for a phase. The installed wheel itself: scripts/test-package.sh (CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otorchestrator import resources
from otorchestrator.execution.ansible import AnsibleRunnerBackend
from otorchestrator.models.results import Phase
from otorchestrator.resources import AnsibleContent, ContentNotFound, ansible_content

ROOT = Path(__file__).resolve().parents[2]


def _content_dir(tmp_path: Path) -> Path:
    (tmp_path / "playbooks").mkdir(parents=True)
    (tmp_path / "roles").mkdir()
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    return tmp_path


def test_a_checkout_runs_its_own_playbooks_for_every_phase() -> None:
    content = ansible_content({})
    assert content.origin == "checkout"
    assert content.root == ROOT
    for phase in Phase:
        assert Path(content.playbook(phase.value)).is_file(), phase
    assert content.ansible_cfg == ROOT / "ansible.cfg"
    assert content.roles_dir.is_dir()


def test_the_wheel_package_data_wins_over_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = _content_dir(tmp_path)
    monkeypatch.setattr(resources, "package_content_dir", lambda: packaged)
    content = ansible_content({})
    assert (content.origin, content.root) == ("package", packaged)
    assert content.playbook("scan") == str(packaged / "playbooks" / "scan.yml")


def test_no_content_anywhere_names_the_places_and_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "package_content_dir", lambda: None)
    monkeypatch.setattr(resources, "checkout_root", lambda: None)
    with pytest.raises(ContentNotFound, match="OTORCH_PROJECT_DIR") as info:
        ansible_content({})
    assert "ansible_content" in str(info.value)


def test_project_dir_override_is_checked(tmp_path: Path) -> None:
    assert ansible_content({"OTORCH_PROJECT_DIR": str(_content_dir(tmp_path))}).origin == "env"
    (tmp_path / "ansible.cfg").unlink()
    with pytest.raises(ContentNotFound, match=r"no ansible\.cfg in"):
        ansible_content({"OTORCH_PROJECT_DIR": str(tmp_path)})


def test_a_collection_runs_its_playbooks_by_fqcn() -> None:
    content = ansible_content({"OTORCH_ANSIBLE_COLLECTION": "otorchestrator.ot"})
    assert content.playbook("diagnostics") == "otorchestrator.ot.diagnostics"
    with pytest.raises(ValueError, match=r"namespace\.name"):
        ansible_content({"OTORCH_ANSIBLE_COLLECTION": "otorchestrator/ot"})


def test_the_backend_runs_the_content_it_was_given(tmp_path: Path) -> None:
    content = AnsibleContent(_content_dir(tmp_path / "c"), "env", collection="otorchestrator.ot")
    backend = AnsibleRunnerBackend(tmp_path / "state", content=content, shm_dir=tmp_path)
    assert backend.project_dir == content.root
    assert backend.content.playbook("verify") == "otorchestrator.ot.verify"
