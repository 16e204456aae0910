"""Suite-wide rule: in CI (``CI`` set), a skipped test is a failure.

Locally a test may skip with its reason (no lab, no chromium, no ../shared/data); in CI every prerequisite
is installed by the project's own scripts, so a skip there means a test silently did not run. The one
exception is data from outside the project (``../shared/data``, marked ``external_data``): those tests skip
with their reason wherever that folder is absent."""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    external = item.get_closest_marker("external_data") is not None
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail") and not external:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every prerequisite must be present: {reason}"
