"""Free space is checked before the first host starts (refusal, nothing started), in MiB with the values."""

from __future__ import annotations

from pathlib import Path

from otorchestrator.execution.preflight import (
    BACKUP_MB_PER_HOST,
    MIB,
    STATE_MIN_FREE_MB,
    SpaceNeed,
    run_space_needs,
    space_problems,
)


def test_enough_space_is_no_problem(tmp_path: Path) -> None:
    assert space_problems([SpaceNeed("state directory", tmp_path, 1)], lambda p: 10 * MIB) == []


def test_too_little_space_names_the_place_and_both_values(tmp_path: Path) -> None:
    (problem,) = space_problems([SpaceNeed("state directory", tmp_path / "new", 64)], lambda p: 12 * MIB)
    assert problem.check == "free_space"
    assert problem.detail == f"state directory {tmp_path / 'new'}: 12 MiB free on {tmp_path}, needs 64 MiB"


def test_real_disk_usage_is_read(tmp_path: Path) -> None:
    assert space_problems([SpaceNeed("state directory", tmp_path, 1)]) == []
    (problem,) = space_problems([SpaceNeed("state directory", tmp_path, 1 << 40)])  # 1 EiB: never free
    assert "needs 1099511627776 MiB" in problem.detail


def test_backups_on_the_state_file_system_add_up(tmp_path: Path) -> None:
    (need,) = run_space_needs(tmp_path / "state", tmp_path / "state" / "backups", hosts=4)
    assert need.need_mb == STATE_MIN_FREE_MB + 4 * BACKUP_MB_PER_HOST
    assert run_space_needs(tmp_path, None, hosts=4) == [SpaceNeed("state directory", tmp_path, 64)]


def test_backups_elsewhere_are_checked_on_their_own(tmp_path: Path) -> None:
    needs = run_space_needs(tmp_path, Path("/dev/shm/otorch-backups-test"), hosts=2)
    if Path("/dev/shm").stat().st_dev == tmp_path.stat().st_dev:
        assert len(needs) == 1
    else:
        assert needs[1] == SpaceNeed("backup store", Path("/dev/shm/otorch-backups-test"), 100)
