"""ot_patch's apt-mode module in-process (roles/ot_patch/library/ot_patch_install.py, its Python in
roles/ot_common/module_utils/otorch_patch.py): the state before, the refresh, the one apt-get transaction and
the checks after, dpkg-query and apt-get answering with the outputs recorded on the lab
(tests/fixtures/role_probes/apt_install_*.txt, apt_update_*.txt)."""

from __future__ import annotations

from typing import Any

import pytest
from role_modules import ROLES, _load, fixture, module, probe, run_module

PROBE = probe()
PATCH = _load("ansible.module_utils.otorch_patch", ROLES / "ot_common" / "module_utils" / "otorch_patch.py")
INSTALL = module("ot_patch", "ot_patch_install")

BASELINE = "nwc-hmi-runtime\t1.0.0\tii \nnwc-drill-agent\t1.0.0\tii \n"
PATCHED = "nwc-hmi-runtime\t1.1.0\tii \nnwc-drill-agent\t1.0.0\tii \n"
REFRESH = [
    "apt-get", "-q", "-o", "Dir::Etc::sourcelist=sources.list.d/nwc.list", "-o", "Dir::Etc::sourceparts=-",
    "-o", "APT::Get::List-Cleanup=0", "-o", "APT::Update::Error-Mode=any", "update",
]  # fmt: skip
OPTIONS = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
# apt-get update of a repository signed by another key (recorded on the lab, labpatch, 2026-12-03)
ROGUE_UPDATE = (
    100,
    "Get:1 file:/srv/nwc-rogue ./ InRelease [1268 B]\n"
    "Get:1 file:/srv/nwc-rogue ./ InRelease [1268 B]\n"
    "Err:1 file:/srv/nwc-rogue ./ InRelease\n"
    "  The following signatures couldn't be verified because the public key is not available: NO_PUBKEY"
    " 9D42341F89020DCA\n"
    "Reading package lists...\n",
    "W: GPG error: file:/srv/nwc-rogue ./ InRelease: The following signatures couldn't be verified because"
    " the public key is not available: NO_PUBKEY 9D42341F89020DCA\n"
    "E: The repository 'file:/srv/nwc-rogue ./ InRelease' is not signed.\n",
)
ARGS = {
    "sourcelist": "sources.list.d/nwc.list",
    "dpkg_options": "force-confdef,force-confold",
    "allow_downgrade": True,
}


def entry(package: str = "nwc-hmi-runtime", **over: Any) -> dict[str, Any]:
    e = {"package": package, "target_version": "1.1.0", "services": [package], "reboot_required": False}
    e.update(over)
    return e


def recorded(name: str, rc: int) -> tuple[int, str, str]:
    out, err = fixture(name).split("--- stderr\n")
    return rc, out, err


class Host:
    """run_command of a dpkg host: the n-th dpkg-query answers ``dpkg[n]`` (the last one after that), apt-get
    update ``update`` and apt-get install ``install``; every call is kept."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, dpkg: list[str], update: Any = None, install: Any = None
    ):
        from ansible.module_utils import basic

        self.dpkg, self.update, self.install = dpkg, update or (0, "Reading package lists...\n", ""), install
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda _self, argv, **kw: self.run(argv, kw))
        monkeypatch.setattr(
            basic.AnsibleModule, "get_bin_path", lambda _self, name, *a, **kw: "/usr/bin/" + name
        )

    def run(self, argv: list[str], kw: dict[str, Any]) -> tuple[int, str, str]:
        self.calls.append((argv, kw))
        if argv[0] == "dpkg-query":
            read = sum(1 for a, _kw in self.calls if a[0] == "dpkg-query")
            return 0, self.dpkg[min(read, len(self.dpkg)) - 1], ""
        if argv[-1] == "update":
            return self.update
        assert argv[:2] == ["apt-get", "-y"] and "install" in argv and self.install, argv
        return self.install

    def argv(self) -> list[list[str]]:
        return [argv for argv, _kw in self.calls]


def test_one_run_reads_the_state_refreshes_installs_once_and_reads_the_state_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = Host(monkeypatch, [BASELINE, PATCHED], install=recorded("apt_install_hmi.txt", 0))
    patches = [entry(), entry("nwc-drill-agent", target_version="1.0.0"), {"id": "firmware, no package"}]
    out = run_module(INSTALL, dict(ARGS, patches=patches), monkeypatch)
    assert host.argv() == [
        ["dpkg-query", "-W", "-f=" + PROBE.DPKG_FORMAT, "nwc-hmi-runtime", "nwc-drill-agent"],
        REFRESH,  # after the versions were read: the first change on the host
        ["apt-get", "-y", *OPTIONS, "-o", "DPkg::Lock::Timeout=60", "install", "nwc-hmi-runtime=1.1.0",
         "--allow-downgrades"],  # only the version that is not installed yet; no cache update
        host.argv()[0],
    ]  # fmt: skip
    env = host.calls[2][1]["environ_update"]
    assert env == {"DEBIAN_FRONTEND": "noninteractive", "DEBIAN_PRIORITY": "critical", "LC_ALL": "C"}
    assert out["changed"] is True and out["install_failed"] is False and out["reboot_needed"] is False
    assert out["versions_before"] == {"nwc-hmi-runtime": "1.0.0", "nwc-drill-agent": "1.0.0"}
    assert out["versions_after"] == {"nwc-hmi-runtime": "1.1.0", "nwc-drill-agent": "1.0.0"}
    assert [(c["name"], c["ok"], c["value"]) for c in out["checks"]] == [
        ("installed:nwc-hmi-runtime", True, "1.1.0 (ii)"),
        ("installed:nwc-drill-agent", True, "1.0.0 (ii)"),
    ]


def test_a_second_run_finds_every_target_installed_and_runs_no_apt_get(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = Host(monkeypatch, [PATCHED])
    out = run_module(INSTALL, dict(ARGS, patches=[entry()]), monkeypatch)
    assert [argv[0] for argv in host.argv()] == ["dpkg-query"]  # no refresh, no apt-get, no second read
    assert out["changed"] is False and [c["ok"] for c in out["checks"]] == [True]
    assert (
        out["versions_before"]
        == out["versions_after"]
        == {"nwc-hmi-runtime": "1.1.0", "nwc-drill-agent": "1.0.0"}
    )
    assert run_module(INSTALL, {"patches": []}, monkeypatch) == {
        "changed": False, "versions_before": {}, "versions_after": {}, "checks": [], "install_failed": False,
        "reboot_needed": False,
    }  # fmt: skip


def test_check_mode_simulates_the_transaction_and_refreshes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host(monkeypatch, [BASELINE], install=recorded("apt_install_simulate_hmi.txt", 0))
    args = dict(ARGS, patches=[entry()], allow_downgrade=False, dpkg_options="")
    out = run_module(INSTALL, args, monkeypatch, check_mode=True)
    assert host.argv()[1:] == [
        ["apt-get", "-y", "-s", "-o", "DPkg::Lock::Timeout=60", "install", "nwc-hmi-runtime=1.1.0"]
    ]
    assert out["changed"] is True and out["versions_after"] == out["versions_before"]
    (installed,) = out["checks"]
    assert installed["ok"] and installed["detail"] == "check mode: not installed"


def test_a_failed_refresh_is_the_install_step_and_nothing_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = Host(monkeypatch, [BASELINE], update=ROGUE_UPDATE)
    args = dict(ARGS, patches=[entry(reboot_required=True)], sourcelist="/tmp/otorch-rogue.list")
    out = run_module(INSTALL, args, monkeypatch)
    assert [argv[0] for argv in host.argv()] == ["dpkg-query", "apt-get"]  # no install, no second read
    assert host.argv()[1] == [*REFRESH[:3], "Dir::Etc::sourcelist=/tmp/otorch-rogue.list", *REFRESH[4:]]
    step, installed = out["checks"]
    assert (step["name"], step["ok"], step["value"]) == ("install_step", False, PATCH.REFRESH_STEP)
    assert step["detail"].startswith("apt-get update failed (rc=100): W: GPG error: file:/srv/nwc-rogue")
    assert "is not signed" in step["detail"] and "NO_PUBKEY 9D42341F89020DCA" in step["detail"]
    assert len(step["detail"]) <= 600
    assert (installed["name"], installed["ok"], installed["value"]) == (
        "installed:nwc-hmi-runtime",
        False,
        "1.0.0 (ii)",
    )
    assert out["install_failed"] is True and out["reboot_needed"] is False and out["changed"] is False


def test_a_failed_transaction_names_the_package_dpkg_could_not_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    left = "nwc-eng-suite\t1.1.0\tiF \nnwc-drill-agent\t1.0.0\tii \n"
    host = Host(
        monkeypatch, ["nwc-eng-suite\t1.0.0\tii \nnwc-drill-agent\t1.0.0\tii \n", left],
        install=recorded("apt_install_eng_suite_ews.txt", 100),
    )  # fmt: skip
    args = dict(ARGS, patches=[entry("nwc-eng-suite", reboot_required=True)], reboot_allowed=False)
    out = run_module(INSTALL, args, monkeypatch)
    assert [argv[0] for argv in host.argv()] == ["dpkg-query", "apt-get", "apt-get", "dpkg-query"]
    assert [(c["name"], c["ok"], c["value"]) for c in out["checks"]] == [
        ("install_step", False, PATCH.INSTALL_STEP),
        ("installed:nwc-eng-suite", False, "1.1.0 (iF)"),
    ]  # no reboot check: a failed step needs no reboot
    detail = out["checks"][0]["detail"]
    assert detail.startswith(
        "dpkg could not install: nwc-eng-suite (--configure: installed nwc-eng-suite package"
        " post-installation script subprocess returned error exit status 1). 'apt-get -y -o"
    )
    assert "install nwc-eng-suite=1.1.0 --allow-downgrades' failed (rc=100)" in detail
    assert "ERROR: schema migration failed" in detail and "debconf" not in detail and len(detail) <= 600
    assert out["versions_after"] == {"nwc-eng-suite": "1.1.0", "nwc-drill-agent": "1.0.0"}
    assert out["changed"] is True and out["install_failed"] is True and out["reboot_needed"] is False


def test_a_version_apt_cannot_find_refuses_the_whole_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    Host(monkeypatch, [BASELINE, BASELINE], install=recorded("apt_install_no_version_hmi.txt", 100))
    patches = [entry("nwc-drill-agent", target_version="9.9.9"), entry()]
    out = run_module(INSTALL, dict(ARGS, patches=patches), monkeypatch)
    step = out["checks"][0]
    assert step["value"] == PATCH.INSTALL_STEP and not step["detail"].startswith("dpkg could not install")
    assert step["detail"].endswith("failed (rc=100): E: Version '9.9.9' for 'nwc-drill-agent' was not found")
    assert "install nwc-drill-agent=9.9.9 nwc-hmi-runtime=1.1.0 --allow-downgrades'" in step["detail"]
    assert [c["ok"] for c in out["checks"][1:]] == [False, False]
    assert out["changed"] is False and out["versions_after"] == out["versions_before"]


def test_a_half_configured_target_is_installed_again_and_a_needed_reboot_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert PATCH.pending([entry()], {"nwc-hmi-runtime": {"v": "1.1.0", "s": "iF"}}) == [entry()]
    assert PATCH.pending([entry()], {"nwc-hmi-runtime": {"v": "1.1.0", "s": "ii"}}) == []
    Host(monkeypatch, [PATCHED])
    out = run_module(
        INSTALL, dict(ARGS, patches=[entry(reboot_required=True)], reboot_allowed=False), monkeypatch
    )
    assert out["reboot_needed"] is True and out["install_failed"] is False
    assert [(c["name"], c["ok"]) for c in out["checks"]] == [
        ("reboot", False),
        ("installed:nwc-hmi-runtime", True),
    ]


def test_a_non_dpkg_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible.module_utils import basic

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: None)
    out = run_module(INSTALL, dict(ARGS, patches=[entry()]), monkeypatch)
    assert out["failed"] and out["checks"][0]["name"] == "os_supported"


def test_the_argument_spec_is_a_pure_literal() -> None:
    """The coordinator's direct runner reads ARGUMENT_SPEC without running the module."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(INSTALL.__file__).read_text())
    (spec,) = [n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENT_SPEC"]  # type: ignore[attr-defined]
    assert ast.literal_eval(spec) == INSTALL.ARGUMENT_SPEC
