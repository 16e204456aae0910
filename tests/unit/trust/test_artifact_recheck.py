"""Each host's artifacts are re-hashed against the catalog just before its install (issue 11): the result
is an `artifact_recheck` audit event; a mismatch refuses that host only. Through `otorch run` with the
fake backend (the artifact is swapped during the wave's backup, after the run-level check)."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fake_backend import FakeBackend, fake_hosts, make_plan, write_inventory

from otorchestrator.cli import run as cli_run
from otorchestrator.cli.main import cli
from otorchestrator.execution.artifacts import artifact_digests, recheck_hosts
from otorchestrator.execution.backend import PhaseOutcome, PhaseRequest, TaskEvent
from otorchestrator.models.catalog import Patch
from otorchestrator.models.results import Phase
from otorchestrator.models.waves import WavePlan
from otorchestrator.store.clock import FakeClock, SystemClock


def _with_artifacts(wp: WavePlan, directory: Path) -> WavePlan:
    """The wave plan with a real artifact file per patch and its real sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    patches = []
    for patch in wp.patches:
        name = f"{patch.package}_{patch.target_version}_all.deb"
        (directory / name).write_bytes(f"package {patch.package}\n".encode())
        digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()
        patches.append(patch.model_copy(update={"artifact": name, "sha256": digest}))
    return wp.model_copy(update={"patches": tuple(patches)}).sealed()


def test_recheck_hosts_compares_with_the_catalog_not_the_wave_plan(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    wp = _with_artifacts(make_plan([["a", "b", "c"]]), repo)
    hosts = wp.waves[0].hosts
    catalog = {p.id: p for p in wp.patches}
    catalog["P-b"] = catalog["P-b"].model_copy(update={"sha256": "f" * 64})
    (repo / "pkg-c_1.1.0_all.deb").unlink()
    asked: list[list[str]] = []

    def digests(patches: Sequence[Patch]) -> dict[str, str | None]:
        asked.append([p.id for p in patches])
        return artifact_digests(patches, [repo])

    checks = {c.host: c for c in recheck_hosts(wp, hosts, catalog, digests)}
    assert asked == [["P-a", "P-b", "P-c"]]  # one read per artifact for the batch
    assert checks["a"].ok and checks["a"].against == "catalog"
    assert checks["a"].patches[0]["actual_sha256"] == wp.patch_map()["P-a"].sha256
    assert not checks["b"].ok and f"the catalog says {'f' * 64}" in (checks["b"].reason or "")
    assert not checks["c"].ok and "artifact pkg-c_1.1.0_all.deb not found" in (checks["c"].reason or "")
    expected = wp.patch_map()["P-c"].sha256
    assert checks["c"].detail()["patches"] == [
        {"patch_id": "P-c", "expected_sha256": expected, "actual_sha256": None, "ok": False}
    ]
    against_plan = recheck_hosts(wp, hosts, None, digests)
    assert [c.against for c in against_plan] == ["waveplan"] * 3 and against_plan[1].ok


class _SwapDuringBackup(FakeBackend):
    """After the wave started (its run-level artifact check passed), someone replaces one artifact."""

    swap: Callable[[], None] = staticmethod(lambda: None)

    def run_phase(
        self,
        request: PhaseRequest,
        on_event: Callable[[TaskEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> PhaseOutcome:
        if request.phase is Phase.BACKUP:
            self.swap()
        return super().run_phase(request, on_event, cancel)


@pytest.fixture
def swapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    repo = tmp_path / "repo"
    wp = _with_artifacts(make_plan([["a", "b", "c"]]), repo)
    waves = tmp_path / "waves.json"
    waves.write_text(wp.model_dump_json())
    inventory = tmp_path / "inv"
    write_inventory(wp, inventory)
    catalog = [p.model_dump(mode="json", exclude_none=True) for p in wp.patches]
    (inventory / "catalog.yml").write_text(yaml.safe_dump({"patches": catalog}))
    backend = _SwapDuringBackup(fake_hosts(wp), FakeClock(SystemClock().now()))
    backend.seconds_per_phase = 0
    backend.swap = lambda: (repo / "pkg-b_1.1.0_all.deb").write_bytes(b"a trojan\n")
    monkeypatch.setattr(cli_run, "make_backend", lambda paths: backend)
    monkeypatch.delenv("OTORCH_TRUST_FILE", raising=False)
    return {"waves": waves, "inv": inventory, "repo": repo, "state": tmp_path / "state", "backend": backend}


def test_an_artifact_swapped_mid_wave_refuses_that_host_only(swapped: dict[str, Any]) -> None:
    args = ["run", str(swapped["waves"]), "-i", str(swapped["inv"]), "--artifacts", str(swapped["repo"])]
    args += ["--yes", "--json", "--operator", "carol", "--state-dir", str(swapped["state"])]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    data = json.loads(result.output)
    states = {h["host"]: (h["state"], h.get("detail") or "") for h in data["hosts"]}
    assert states["a"][0] == states["c"][0] == "succeeded", states
    assert states["b"][0] == "skipped"
    assert "artifact re-check: P-b:" in states["b"][1] and "the catalog says" in states["b"][1]
    assert swapped["backend"].installs("b") == 0 and swapped["backend"].installs("a") == 1
    records = [json.loads(line) for line in Path(data["audit_log"]).read_text().splitlines()]
    checks = {r["host"]: r for r in records if r["kind"] == "artifact_recheck"}
    assert checks["a"]["result"] == "verified" and checks["a"]["detail"]["against"] == "catalog"
    assert checks["b"]["result"] == "refused" and checks["b"]["detail"]["patches"][0]["ok"] is False
    assert checks["b"]["detail"]["patches"][0]["actual_sha256"] == hashlib.sha256(b"a trojan\n").hexdigest()
