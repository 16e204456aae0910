"""ot_diagnostics' probe module (roles/ot_diagnostics/library/ot_diagnostics_probe.py) in-process, the
host's commands answered with recorded lab outputs (tests/fixtures/role_probes/): checks, order, values."""

from __future__ import annotations

from typing import Any

import pytest
from role_modules import fixture, module, run_module

D = module("ot_diagnostics", "ot_diagnostics_probe")

DEFAULTS = {"/var/cache/apt/archives": 100, "/usr": 100, "/opt": 100}
LOCKS = ["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"]


def entry(package: str = "nwc-historian", **over: Any) -> dict[str, Any]:
    e = {
        "package": package,
        "target_version": "1.1.0",
        "services": [package],
        "required_free_mb": {"/opt/nwc": 20, "/var/cache/apt/archives": 20},
    }
    e.update(over)
    return {k: v for k, v in e.items() if v is not None}


def params(patches: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    p = {
        "patches": patches,
        "default_required_free_mb": DEFAULTS,
        "default_install_root_free_mb": 100,
        "min_memory_mb": 64,
        "check_repo": True,
        "repo_sourcelist": "sources.list.d/nwc.list",
        "fail_on_pending_reboot": True,
        "lock_files": LOCKS,
        "extra_services": [],
    }
    p.update(over)
    return p


class Host:
    """The recorded nw-hist-01: nwc-historian 1.0.0 installed, /opt/nwc a tmpfs with 2 MiB free."""

    def __init__(self, update: str = "apt_update_nwc.txt", update_rc: int = 0) -> None:
        self.update = (update_rc, fixture(update), "")
        self.calls: list[list[str]] = []
        self.paths = {"/", "/usr", "/opt", "/opt/nwc", "/var/cache/apt/archives", "/tmp/rogue.list"}
        self.paths |= {"/etc/apt/sources.list.d/nwc.list"}

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        if argv[:2] == ["dpkg-query", "-W"]:
            return 1, fixture("dpkg_query_hist.txt"), "no packages found matching nosuch"
        if argv[:2] == ["dpkg-query", "-L"]:
            if argv[2] == "nwc-historian":
                return 0, fixture("dpkg_files_hist.txt"), ""
            return 1, "", "package not installed"
        if argv[0] == "apt-get":
            return self.update
        if argv[0] == "apt-cache":
            asked = argv[argv.index("madison") + 1 :]
            return 0, "".join(fixture("madison_hmi.txt").replace("nwc-hmi-runtime", p) for p in asked), ""
        raise AssertionError(argv)

    def diagnose(self, p: dict[str, Any], **over: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        kw: dict[str, Any] = {
            "states_of": lambda names: {n: ("running" if n.startswith("nwc") else "absent") for n in names},
            "meminfo": lambda: fixture("meminfo_hist.txt"),
            "mountinfo": lambda: fixture("mountinfo_hist.txt"),
            "locks": lambda: "",
            "pids": lambda: [],
            "free_of": lambda path: 2 if path.startswith("/opt/nwc") else 5000,
            "exists": lambda path: path in self.paths,
            "isfile": lambda path: path.startswith(("/opt/nwc/", "/usr/")),
        }
        kw.update(over)
        return D.diagnose(p, self.run, **kw)  # type: ignore[no-any-return]


def by_name(checks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in checks}


def test_checks_come_in_the_roles_order_and_fail_on_the_nearly_full_disk() -> None:
    checks, values = Host().diagnose(params([entry()]))
    assert [c["name"] for c in checks] == [
        "disk_free:/opt/nwc",
        "disk_free:/var/cache/apt/archives",
        "memory_available_mb",
        "service_running:nwc-historian",
        "dpkg_lock_free",
        "repo_signature",
        "target_available:nwc-historian",
        "reboot_not_pending",
    ]
    failed = [c["name"] for c in checks if not c["ok"]]
    assert failed == ["disk_free:/opt/nwc"]
    disk = by_name(checks)["disk_free:/opt/nwc"]
    assert (disk["value"], disk["threshold"], disk["detail"]) == (
        2,
        20,
        "MiB free on /opt/nwc (needs 20 MiB)",
    )
    assert by_name(checks)["target_available:nwc-historian"]["value"] == ["1.1.0", "1.0.0"]
    assert values == {
        "installed": {"nwc-historian": "1.0.0", "openssh-server": "1:9.2p1-2+deb12u10"},
        "disk_threshold_defaulted": [],
        "install_roots": [],
        "repo_available": {"nwc-historian": ["1.1.0", "1.0.0"]},
    }


def test_a_patch_without_required_free_mb_gets_the_defaults_and_its_install_roots() -> None:
    checks, values = Host().diagnose(params([entry(required_free_mb=None)]))
    disk = [c for c in checks if c["name"].startswith("disk_free:")]
    assert [c["name"] for c in disk] == [
        "disk_free:/var/cache/apt/archives",
        "disk_free:/usr",
        "disk_free:/opt",
        "disk_free:/",
        "disk_free:/opt/nwc",
    ]
    assert {c["threshold"] for c in disk} == {100}
    assert all(
        "default threshold: no required_free_mb in the catalog entry of nwc-historian" in c["detail"]
        for c in disk
    )
    assert values["disk_threshold_defaulted"] == ["nwc-historian"]
    assert values["install_roots"] == ["/", "/opt/nwc"]
    assert [c["name"] for c in checks if not c["ok"]] == ["disk_free:/opt/nwc"]


def test_needs_of_several_patches_on_one_path_are_summed() -> None:
    two = [entry(), entry("openssh-server", services=[])]
    checks, _ = Host().diagnose(params(two))
    assert by_name(checks)["disk_free:/var/cache/apt/archives"]["threshold"] == 40


def test_services_of_uninstalled_packages_are_not_required_but_extra_ones_are() -> None:
    checks, _ = Host().diagnose(params([entry("nosuch")], extra_services=["cron"]))
    services = {c["name"]: c for c in checks if c["name"].startswith("service_running:")}
    assert list(services) == ["service_running:cron"]
    cron = services["service_running:cron"]
    assert cron["value"] == "absent" and not cron["ok"]


def test_a_held_lock_memory_and_a_pending_reboot_fail() -> None:
    held = "1: POSIX  ADVISORY  WRITE 2417 00:2f:1311 0 EOF\n"
    checks, _ = Host().diagnose(
        params([entry()], min_memory_mb=10**9, lock_files=[__file__]),
        locks=lambda: held,
        pids=lambda: ["2417"],
        exists=lambda path: True,
    )
    c = by_name(checks)
    assert not c["memory_available_mb"]["ok"] and c["memory_available_mb"]["threshold"] == 10**9
    assert c["dpkg_lock_free"]["detail"] == "package manager processes: 2417"
    assert not c["reboot_not_pending"]["ok"] and c["reboot_not_pending"]["value"] is True
    only_reported, _ = Host().diagnose(params([entry()], fail_on_pending_reboot=False), exists=lambda p: True)
    assert by_name(only_reported)["reboot_not_pending"]["ok"]


def test_lock_check_names_the_held_files(tmp_path: Any) -> None:
    lock = tmp_path / "lock"
    lock.write_text("")
    inode = lock.stat().st_ino
    held = f"1: POSIX  ADVISORY  WRITE 9 00:2f:{inode} 0 EOF\n"
    c = D.lock_check([str(lock), str(tmp_path / "absent")], held, [])
    assert (c["ok"], c["value"], c["detail"]) == (False, [str(lock)], "")
    recorded = fixture("proc_locks.txt")
    assert D.lock_check([str(lock)], recorded, [])["ok"] is (inode not in {1311, 786451, 2118})


def test_one_madison_for_every_package_read_per_package() -> None:
    recorded = D.parse_madison(fixture("madison_several_hmi.txt"))
    assert recorded == {
        "nwc-hmi-runtime": ["1.1.0", "1.0.0"],
        "nwc-drill-agent": ["1.1.0", "1.0.0"],
        "nwc-historian": ["1.1.0", "1.0.0"],
    }
    host = Host()
    two = [entry(), entry("nwc-hmi-runtime"), entry("nwc-historian", target_version="9.9")]
    checks, values = host.diagnose(params(two))
    madison = [a for a in host.calls if a[0] == "apt-cache"]
    assert len(madison) == 1 and madison[0][-3:] == ["madison", "nwc-historian", "nwc-hmi-runtime"]
    assert values["repo_available"] == {
        "nwc-historian": ["1.1.0", "1.0.0"],
        "nwc-hmi-runtime": ["1.1.0", "1.0.0"],
    }
    targets = [(c["name"], c["ok"]) for c in checks if c["name"].startswith("target_available:")]
    assert targets == [
        ("target_available:nwc-historian", True),
        ("target_available:nwc-hmi-runtime", True),
        ("target_available:nwc-historian", False),
    ]


def test_a_package_the_repository_does_not_offer_has_no_versions() -> None:
    def run(argv: list[str]) -> tuple[int, str, str]:
        if argv[0] == "apt-get":
            return 0, fixture("apt_update_nwc.txt"), ""
        return 0, fixture("madison_several_hmi.txt"), "N: Unable to locate package nosuch"

    repo = D.repo_state(run, "sources.list.d/nwc.list", ["nosuch", "nwc-drill-agent"], exists=lambda p: True)
    assert repo["available"] == {"nosuch": [], "nwc-drill-agent": ["1.1.0", "1.0.0"]}


def test_a_bad_repository_signature_fails_repo_signature() -> None:
    rogue = Host("apt_update_rogue.txt", 100)
    checks, _ = rogue.diagnose(params([entry()], repo_sourcelist="/tmp/rogue.list"))
    repo = by_name(checks)["repo_signature"]
    assert not repo["ok"] and repo["value"] == "invalid"
    assert repo["detail"].startswith("/tmp/rogue.list rc=100 W: GPG error: file:/srv/nwc-rogue ./ InRelease")
    assert "is not signed" in repo["detail"]


def test_push_mode_skips_the_repository() -> None:
    host = Host()
    checks, values = host.diagnose(params([entry()], check_repo=False))
    assert not any(c["name"].startswith(("repo_", "target_")) for c in checks)
    assert "repo_available" not in values and not any(a[0].startswith("apt") for a in host.calls)


def test_a_failing_probe_ends_the_checks_with_diagnostics_probe() -> None:
    def broken() -> str:
        raise OSError("no /proc/meminfo")

    checks, _ = Host().diagnose(params([entry()]), meminfo=broken)
    assert checks[-1]["name"] == "diagnostics_probe" and not checks[-1]["ok"]
    assert checks[-1]["value"] == "Read available memory" and "no /proc/meminfo" in checks[-1]["detail"]


def test_df_rounds_free_space_up_to_a_mib() -> None:
    class St:
        f_bavail, f_frsize = 384, 4096  # 1.5 MiB

    assert D.df_free_mb("/", statvfs=lambda p: St()) == 2


def test_the_module_runs_in_check_mode_and_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible.module_utils import basic

    host = Host()
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: host.run(argv))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/bin/" + name)
    monkeypatch.setattr(D, "service_states", lambda run, names: {n: "running" for n in names})
    out = run_module(D, params([entry()], check_repo=False), monkeypatch, check_mode=True)
    assert out["changed"] is False and not out.get("failed")
    assert [c["name"] for c in out["checks"]][-1] == "reboot_not_pending"
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: None)
    refused = run_module(D, params([entry()]), monkeypatch)
    assert refused["failed"] and refused["checks"][0]["name"] == "os_supported"
