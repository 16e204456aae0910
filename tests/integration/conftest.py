"""Integration fixtures: the running lab (real hosts over SSH).

``lab`` (session): brings the lab up idempotently (the instance named by OTORCH_LAB_NAME, default ``otlab``)
and yields an :class:`otorchestrator.lab.handle.LabHandle` (inventory path, hosts, key, ports, ``sh(host,
cmd)`` via podman exec, ``runner_envvars()`` for ansible-runner, ``reset(*hosts)``). Tests that change a
host must restore it (or ``lab.reset(host)``); tests that take a lab down use their own instance.

The session starts from the baseline whatever ran before (``make demo`` leaves hosts patched, a killed test
may leave a host changed): hosts off their baseline are reset first (``LabHandle.ensure_baseline``); a
test that needs a host at its baseline calls ``lab.ensure_baseline(host)`` itself."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from _lab import require_lab

from otorchestrator.lab import LabConfig, lifecycle
from otorchestrator.lab.handle import LabHandle


@pytest.fixture(scope="session")
def lab() -> Iterator[LabHandle]:
    require_lab()
    cfg = LabConfig.from_env()
    progress = lambda msg: print(f"[lab] {msg}", file=sys.stderr)  # noqa: E731
    lifecycle.up(cfg, progress=progress)
    handle = LabHandle.for_config(cfg)
    handle.ensure_baseline(progress=progress)
    yield handle
