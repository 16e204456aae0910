"""ot_patch's state module in-process (roles/ot_patch/library/ot_patch_state.py), dpkg answering with
recorded-format output: the versions before and after, the installed:<package> and reboot checks."""

from __future__ import annotations

from typing import Any

import pytest
from role_modules import module, run_module

STATE = module("ot_patch", "ot_patch_state")

DPKG = "nwc-hmi-runtime\t1.1.0\tii \nnwc-gateway\t1.0.0\tiU \n"


def entry(package: str = "nwc-hmi-runtime", **over: Any) -> dict[str, Any]:
    e = {
        "package": package,
        "target_version": "1.1.0",
        "services": [package],
        "ports": [9103],
        "health_command": f"/usr/bin/{package}-health --quick",
        "reboot_required": False,
    }
    e.update(over)
    return e


def fake_host(monkeypatch: pytest.MonkeyPatch, answers: dict[str, tuple[int, str, str]]) -> list[list[str]]:
    from ansible.module_utils import basic

    calls: list[list[str]] = []

    def run(self: Any, argv: list[str], **kw: Any) -> tuple[int, str, str]:
        calls.append(argv)
        return answers[argv[0]]

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/bin/" + name)
    return calls


# --- ot_patch_state ---------------------------------------------------------------------------------------


def test_before_reads_the_versions_of_the_present_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_host(monkeypatch, {"dpkg-query": (1, DPKG, "no packages found matching nosuch")})
    out = run_module(
        STATE, {"patches": [entry(), entry("nosuch"), {"id": "x"}], "when": "before"}, monkeypatch
    )
    assert out["versions"] == {"nwc-hmi-runtime": "1.1.0", "nwc-gateway": "1.0.0"}
    assert out["checks"] == [] and out["changed"] is False
    assert calls[0][3:] == ["nwc-hmi-runtime", "nosuch"]


def test_after_checks_each_target_version_and_dpkg_state(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_host(monkeypatch, {"dpkg-query": (1, DPKG, "")})
    patches = [entry(), entry("nwc-gateway"), entry("nosuch")]
    out = run_module(STATE, {"patches": patches, "when": "after"}, monkeypatch)
    assert [(c["name"], c["ok"], c["value"], c["threshold"]) for c in out["checks"]] == [
        ("installed:nwc-hmi-runtime", True, "1.1.0 (ii)", "1.1.0 (ii)"),
        ("installed:nwc-gateway", False, "1.0.0 (iU)", "1.1.0 (ii)"),
        ("installed:nosuch", False, "None (not-installed)", "1.1.0 (ii)"),
    ]
    assert out["reboot_needed"] is False
    simulated = run_module(STATE, {"patches": patches, "when": "after"}, monkeypatch, check_mode=True)
    assert all(c["ok"] and c["detail"] == "check mode: not installed" for c in simulated["checks"])


def test_a_required_reboot_is_needed_and_refused_when_not_allowed() -> None:
    pkgs = [entry(reboot_required=True)]
    state = {"nwc-hmi-runtime": {"v": "1.1.0", "s": "ii"}}
    checks, needed = STATE.after(pkgs, state, False, True, False, False)
    assert needed and [c["name"] for c in checks] == ["installed:nwc-hmi-runtime"]
    checks, needed = STATE.after(pkgs, state, False, False, False, False)
    assert needed and [c["name"] for c in checks] == ["reboot", "installed:nwc-hmi-runtime"]
    assert checks[0]["detail"] == "a patch requires a reboot but ot_patch_reboot_allowed is false"
    assert STATE.after([entry()], state, False, True, False, True)[1] is True  # /var/run/reboot-required
    assert STATE.after(pkgs, state, False, False, True, True) == (
        STATE.installed_checks(pkgs, state, False),
        False,
    )


def test_a_non_dpkg_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible.module_utils import basic

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: None)
    out = run_module(STATE, {"patches": [entry()], "when": "before"}, monkeypatch)
    assert out["failed"] and out["checks"][0]["name"] == "os_supported"
