"""Push mode through a node (nodes/push.py): the install's artifacts go into the job, nothing else does."""

from __future__ import annotations

from pathlib import Path

from otorchestrator.execution.backend import HostsInventory
from otorchestrator.models.results import Phase
from otorchestrator.nodes.push import SUBDIR, ship


def _setup(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a_1.1.0_all.deb").write_bytes(b"a")
    (repo / "b_1.1.0_all.deb").write_bytes(b"b")
    (repo / "other.deb").write_bytes(b"x")
    patches = {
        "h1": [{"id": "P1", "artifact": "a_1.1.0_all.deb"}],
        "h2": [{"id": "P2", "artifact": "b_1.1.0_all.deb"}, {"id": "P3", "artifact": "missing.deb"}],
    }
    return repo, {"otorch_patches": patches}


def test_a_push_install_ships_exactly_its_artifacts(tmp_path: Path) -> None:
    repo, extravars = _setup(tmp_path)
    inv = HostsInventory(
        hosts={"h1": {"otorch_patch_mode": "push", "otorch_artifact_dir": str(repo)}, "h2": {}}
    )
    project = tmp_path / "project"
    assert ship(Phase.INSTALL, ["h1", "h2"], extravars, inv, project) == ["a_1.1.0_all.deb"]
    assert sorted(p.name for p in (project / SUBDIR).iterdir()) == ["a_1.1.0_all.deb"]
    # as extra vars for every host: both hosts' artifacts; the missing one is left to ot_patch to refuse
    everyone = {**extravars, "otorch_patch_mode": "push", "otorch_artifact_dir": str(repo)}
    got = ship(Phase.INSTALL, ["h1", "h2"], everyone, HostsInventory(hosts={}), tmp_path / "p2")
    assert got == ["a_1.1.0_all.deb", "b_1.1.0_all.deb"]


def test_apt_mode_or_another_phase_ships_nothing(tmp_path: Path) -> None:
    repo, extravars = _setup(tmp_path)
    push = {**extravars, "otorch_patch_mode": "push", "otorch_artifact_dir": str(repo)}
    assert ship(Phase.DIAGNOSTICS, ["h1"], push, HostsInventory(hosts={}), tmp_path / "p") is None
    assert ship(Phase.INSTALL, ["h1"], extravars, HostsInventory(hosts={}), tmp_path / "p") is None
    assert not (tmp_path / "p").exists()
