"""Backends found by name: the built-in one, one installed through a real entry point, clear refusals."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otorchestrator.execution import registry
from otorchestrator.execution.registry import BackendNotFound, available, load_backend
from otorchestrator.store.paths import StatePaths

BACKEND_MODULE = """
from otorchestrator.execution.backend import BackupStore, PhaseOutcome, RunStatus


class EchoBackend:
    def __init__(self, paths):
        self.paths = paths
        self.backups = BackupStore(location="s3://bucket/backups")

    def run_phase(self, request, on_event=None, cancel=None):
        return PhaseOutcome(phase=request.phase, status=RunStatus.SUCCESSFUL, rc=0, results={})

    def end_orphans(self, run_id, grace_s=30.0, notify=None):
        return []


class NotABackend:
    def __init__(self, paths):
        pass


class NoOrphans(EchoBackend):
    end_orphans = None
"""


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[Path]:
    """A distribution on sys.path with entry points in the backends group, as `pip install` leaves one."""
    (tmp_path / "otx_echo_backend.py").write_text(BACKEND_MODULE)
    info = tmp_path / "otx_echo_backend-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: otx-echo-backend\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{registry.GROUP}]\n"
        "echo = otx_echo_backend:EchoBackend\n"
        "broken = otx_echo_backend:NotABackend\n"
        "no-orphans = otx_echo_backend:NoOrphans\n"
        "missing = otx_no_such_module:Backend\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("otx_echo_backend", None)


def test_the_ansible_runner_backend_is_known_without_package_metadata() -> None:
    assert registry.BUILTIN["ansible-runner"] == "otorchestrator.execution.ansible:AnsibleRunnerBackend"
    assert available()["ansible-runner"] == registry.BUILTIN["ansible-runner"]
    assert registry.chosen_name({}) == "ansible-runner"
    assert registry.chosen_name({"OTORCH_BACKEND": "echo"}) == "echo"


def test_an_installed_entry_point_is_loaded_by_name(installed: Path, tmp_path: Path) -> None:
    assert "echo" in available()
    paths = StatePaths(root=tmp_path / "state")
    backend = load_backend(paths, "echo")
    assert type(backend).__name__ == "EchoBackend" and backend.paths is paths  # type: ignore[attr-defined]
    assert backend.backups.local_dir is None  # backups elsewhere: no local free-space check


def test_unknown_and_broken_backends_are_refused_with_the_reason(installed: Path, tmp_path: Path) -> None:
    paths = StatePaths(root=tmp_path / "state")
    with pytest.raises(BackendNotFound, match=r"no backend 'ech' \(OTORCH_BACKEND\); installed: .*echo"):
        load_backend(paths, "ech")
    with pytest.raises(BackendNotFound, match="has no run_phase, end_orphans, backups: not a Backend"):
        load_backend(paths, "broken")
    with pytest.raises(BackendNotFound, match="has no end_orphans: not a Backend"):
        load_backend(paths, "no-orphans")
    with pytest.raises(BackendNotFound, match="cannot import otx_no_such_module"):
        load_backend(paths, "missing")


def test_the_cli_names_the_backend_it_cannot_find(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from otorchestrator.cli.main import cli

    monkeypatch.setenv("OTORCH_BACKEND", "awx")
    state = tmp_path / "state"
    result = CliRunner().invoke(cli, ["scan", "-i", str(Path(__file__).parents[2] / "inventories" / "lab"),
                                      "--state-dir", str(state)])  # fmt: skip
    assert result.exit_code == 2 and "no backend 'awx'" in result.output, result.output


def test_no_module_of_the_package_imports_a_fake_backend() -> None:
    package = Path(__file__).parents[2] / "otorchestrator"
    importing = re.compile(r"^\s*(from|import)\s+\S*fake_backend", re.MULTILINE)
    importers = [
        str(p.relative_to(package)) for p in package.rglob("*.py") if importing.search(p.read_text("utf-8"))
    ]
    assert importers == []
    assert importing.search("import os\nfrom fake_backend import FakeBackend\n")  # the check can fail
