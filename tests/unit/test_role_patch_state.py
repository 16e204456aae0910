"""ot_patch's push-mode state module in-process (roles/ot_patch/library/ot_patch_state.py, its Python in
roles/ot_common/module_utils/otorch_patch.py), dpkg answering with recorded-format output: the versions before
and after, the installed:<package>, reboot and install_step checks."""

from __future__ import annotations

from typing import Any

import pytest
from role_modules import ROLES, _load, module, probe, run_module

probe()
PATCH = _load("ansible.module_utils.otorch_patch", ROLES / "ot_common" / "module_utils" / "otorch_patch.py")
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
    assert out == {"changed": False, "versions": {"nwc-hmi-runtime": "1.1.0", "nwc-gateway": "1.0.0"}}
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
    checks, needed = PATCH.after(pkgs, state, False, True, False, False)
    assert needed and [c["name"] for c in checks] == ["installed:nwc-hmi-runtime"]
    checks, needed = PATCH.after(pkgs, state, False, False, False, False)
    assert needed and [c["name"] for c in checks] == ["reboot", "installed:nwc-hmi-runtime"]
    assert checks[0]["detail"] == "a patch requires a reboot but ot_patch_reboot_allowed is false"
    assert PATCH.after([entry()], state, False, True, False, True)[1] is True  # /var/run/reboot-required
    assert PATCH.after(pkgs, state, False, False, True, True) == (
        PATCH.installed_checks(pkgs, state, False),
        False,
    )


def test_a_non_dpkg_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible.module_utils import basic

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: None)
    out = run_module(STATE, {"patches": [entry()], "when": "before"}, monkeypatch)
    assert out["failed"] and out["checks"][0]["name"] == "os_supported"


# --- recorded on the lab (labpatch, 2026-12-03): the ansible_failed_result of the install steps that fail
# (ansible.builtin.apt; the keys the module reads) ---

_ENG_SUITE_ERR = (
    "nwc-eng-suite: migrating project database to schema 7 ...\n"
    "nwc-eng-suite: ERROR: schema migration failed (license server unreachable); package left unconfigured\n"
    "dpkg: error processing package nwc-eng-suite ({action}):\n"
    " installed nwc-eng-suite package post-installation script subprocess returned error exit status 1\n"
    "Errors were encountered while processing:\n"
    " nwc-eng-suite\n"
)
_DEBCONF = "debconf: delaying package configuration, since apt-utils is not installed\n"
_APT_ERR = (
    _DEBCONF
    + _ENG_SUITE_ERR.format(action="--configure")
    + "E: Sub-process /usr/bin/dpkg returned an error code (1)\n"
)
# apt name=[nwc-eng-suite=1.1.0, nwc-drill-agent=1.1.0] on nw-ews-01: one transaction, eng-suite's
# postinst exits 1
APT_ENG_SUITE_FAILED = {
    "failed": True,
    "msg": '\'/usr/bin/apt-get -y -o "Dpkg::Options::=--force-confdef"'
    ' -o "Dpkg::Options::=--force-confold" -o DPkg::Lock::Timeout=60       install'
    " 'nwc-eng-suite=1.1.0' 'nwc-drill-agent=1.1.0' --allow-downgrades'"
    " failed: " + _APT_ERR,
    "rc": 100,
    "stderr": _APT_ERR,
    "stdout": "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
    "The following packages will be upgraded:\n  nwc-drill-agent nwc-eng-suite\n"
    "2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
    "Need to get 0 B/8870 B of archives.\n"
    "After this operation, 4096 B of additional disk space will be used.\n"
    "Get:1 file:/srv/nwc-repo ./ nwc-drill-agent 1.1.0 [4558 B]\n"
    "Get:2 file:/srv/nwc-repo ./ nwc-eng-suite 1.1.0 [4312 B]\n"
    "(Reading database ... 8344 files and directories currently installed.)\n"
    "Preparing to unpack .../nwc-drill-agent_1.1.0_all.deb ...\nStopped NWC Drill Agent\n"
    "Unpacking nwc-drill-agent (1.1.0) over (1.0.0) ...\n"
    "Preparing to unpack ..././nwc-eng-suite_1.1.0_all.deb ...\nStopped NWC Engineering Suite\n"
    "Unpacking nwc-eng-suite (1.1.0) over (1.0.0) ...\nSetting up nwc-drill-agent (1.1.0) ...\n"
    "Installing new version of config file /etc/nwc/nwc-drill-agent.conf ...\n"
    "Installing new version of config file /etc/init.d/nwc-drill-agent ...\n"
    "Stopped NWC Drill Agent\nStarted NWC Drill Agent\nSetting up nwc-eng-suite (1.1.0) ...\n"
    "Installing new version of config file /etc/nwc/nwc-eng-suite.conf ...\n"
    "Installing new version of config file /etc/init.d/nwc-eng-suite ...\n",
}
# apt name=[nwc-drill-agent=9.9.9, ...]: refused before anything is installed
APT_NO_CANDIDATE = {"failed": True, "msg": "no available installation candidate for nwc-drill-agent=9.9.9"}
# push mode: apt deb= in a loop, the drill agent installs, eng-suite's postinst exits 1
PUSH_ENG_SUITE_FAILED = {
    "failed": True,
    "msg": "One or more items failed",
    "results": [
        {
            "failed": False,
            "item": "nwc-drill-agent_1.1.0_all.deb",
            "stderr": "",
            "stdout": "Setting up nwc-drill-agent (1.1.0) ...\nStarted NWC Drill Agent\n",
        },
        {
            "failed": True,
            "item": "nwc-eng-suite_1.1.0_all.deb",
            "msg": "dpkg --force-confdef --force-confold -i /tmp/nwc-eng-suite_1.1.0_all.deb failed",
            "stderr": _ENG_SUITE_ERR.format(action="--install"),
            "stdout": "(Reading database ... 8345 files and directories currently installed.)\n"
            "Preparing to unpack .../nwc-eng-suite_1.1.0_all.deb ...\nStopped NWC Engineering Suite\n"
            "Unpacking nwc-eng-suite (1.1.0) over (1.0.0) ...\nSetting up nwc-eng-suite (1.1.0) ...\n",
        },
    ],
}


def test_a_failed_apt_transaction_names_the_package_dpkg_could_not_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dpkg = "nwc-eng-suite\t1.1.0\tiF \nnwc-drill-agent\t1.1.0\tii \n"
    fake_host(monkeypatch, {"dpkg-query": (0, dpkg, "")})
    task = "Install the exact target versions from the signed repository (one apt transaction)"
    args = {
        "patches": [entry("nwc-eng-suite", reboot_required=True), entry("nwc-drill-agent")],
        "when": "after",
        "failed_step": {"task": task, "result": APT_ENG_SUITE_FAILED},
    }
    out = run_module(STATE, args, monkeypatch)
    assert [(c["name"], c["ok"], c["value"]) for c in out["checks"]] == [
        ("install_step", False, task),
        ("installed:nwc-eng-suite", False, "1.1.0 (iF)"),
        ("installed:nwc-drill-agent", True, "1.1.0 (ii)"),
    ]
    detail = out["checks"][0]["detail"]
    assert detail.startswith(
        "dpkg could not install: nwc-eng-suite (--configure: installed nwc-eng-suite package"
        " post-installation script subprocess returned error exit status 1). '/usr/bin/apt-get -y"
    )
    assert "install 'nwc-eng-suite=1.1.0' 'nwc-drill-agent=1.1.0'" in detail and "debconf" not in detail
    assert "ERROR: schema migration failed" in detail and len(detail) <= 600
    assert out["reboot_needed"] is False


def test_the_install_step_of_a_refused_version_and_of_a_failed_push_loop() -> None:
    step = PATCH.failed_step_check("Install the exact target versions", APT_NO_CANDIDATE)
    assert step == {
        "name": "install_step",
        "ok": False,
        "value": "Install the exact target versions",
        "threshold": None,
        "detail": "no available installation candidate for nwc-drill-agent=9.9.9",
    }
    push = PATCH.failed_step_check("Install the pushed packages", PUSH_ENG_SUITE_FAILED)["detail"]
    assert push.startswith(
        "dpkg could not install: nwc-eng-suite (--install: installed nwc-eng-suite package"
        " post-installation script subprocess returned error exit status 1). dpkg --force-confdef"
        " --force-confold -i /tmp/nwc-eng-suite_1.1.0_all.deb failed nwc-eng-suite: migrating project"
    )
    assert "drill-agent" not in push  # the item that installed is not reported
    assert PATCH.dpkg_failures("Errors were encountered while processing:\n a\n b\nE: x\n") == [
        ("a", "", ""),
        ("b", "", ""),
    ]
    assert PATCH.failed_step_check("", None)["detail"] == ""
