"""What the lab fixtures share."""

from __future__ import annotations

import os

import pytest

from otorchestrator.lab.handle import lab_unavailable_reason


def require_lab() -> None:
    """Skip when this machine cannot run the lab; in CI, where the lab tests must run, fail instead."""
    reason = lab_unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the lab tests, but the lab is unavailable: {reason}")
        pytest.skip(reason)
