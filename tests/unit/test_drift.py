"""Drift between two scans: packages, config hashes, services, listening ports."""

from __future__ import annotations

from typing import Any

from otorchestrator.planning.drift import Difference, DriftKind, compare_scans, listening_ports

HASH_A = "a" * 64
HASH_B = "b" * 64


def scan(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "packages": {"nwc-drill-agent": "1.0.0", "openssh-server": "1:9.2p1-2"},
        "package_status": {},
        "services": {"nwc-drill-agent": "running", "ssh": "running"},
        "listening": ["tcp 0.0.0.0:22", "tcp 0.0.0.0:9106", "tcp [::]:22"],
        "listening_tcp_ports": [22, 9106],
        "config_sha256": {"/etc/nwc/nwc-drill-agent.conf": HASH_A},
    }
    values.update(overrides)
    return {"schema": 1, "phase": "scan", "host": "h", "ok": True, "values": values}


def test_identical_scans_have_no_drift() -> None:
    assert compare_scans(scan(), scan()) == ()


def test_values_mapping_is_accepted_directly() -> None:
    assert compare_scans(scan()["values"], scan()) == ()


def test_package_version_change_add_and_removal() -> None:
    after = scan(packages={"nwc-drill-agent": "1.1.0", "nwc-extra": "2.0"})
    diffs = compare_scans(scan(), after)
    pkg = DriftKind.PACKAGE
    assert Difference(kind=pkg, subject="nwc-drill-agent", before="1.0.0", after="1.1.0") in diffs
    assert Difference(kind=pkg, subject="nwc-extra", before=None, after="2.0") in diffs
    assert Difference(kind=pkg, subject="openssh-server", before="1:9.2p1-2", after=None) in diffs
    described = [d.describe() for d in diffs if d.subject == "nwc-extra"]
    assert described == ["package nwc-extra: not installed -> 2.0"]


def test_half_installed_package_is_drift() -> None:
    diffs = compare_scans(scan(), scan(package_status={"nwc-drill-agent": "iF"}))
    assert diffs == (
        Difference(kind=DriftKind.PACKAGE, subject="nwc-drill-agent (dpkg status)", before="ii", after="iF"),
    )


def test_config_hash_change_only_for_files_both_scans_hashed() -> None:
    after = scan(config_sha256={"/etc/nwc/nwc-drill-agent.conf": HASH_B, "/etc/other.conf": HASH_A})
    diffs = compare_scans(scan(), after)
    assert diffs == (
        Difference(
            kind=DriftKind.CONFIG, subject="/etc/nwc/nwc-drill-agent.conf", before=HASH_A, after=HASH_B
        ),
    )
    assert diffs[0].describe() == "config /etc/nwc/nwc-drill-agent.conf: aaaaaaaaaaaa -> bbbbbbbbbbbb"


def test_config_file_removed_is_drift() -> None:
    after = scan(config_sha256={"/etc/nwc/nwc-drill-agent.conf": None})
    (diff,) = compare_scans(scan(), after)
    assert diff.after is None and diff.describe().endswith("-> absent")


def test_service_state_and_new_service() -> None:
    after = scan(services={"nwc-drill-agent": "stopped", "ssh": "running", "telemetry": "running"})
    diffs = compare_scans(scan(), after)
    assert [d.subject for d in diffs] == ["nwc-drill-agent", "telemetry"]
    assert compare_scans(scan(), after, ignore_services={"nwc-drill-agent", "telemetry"}) == ()


def test_new_listening_port_ignores_bind_address() -> None:
    after = scan(listening=["tcp 127.0.0.1:22", "tcp 0.0.0.0:9106", "tcp 0.0.0.0:9199"])
    diffs = compare_scans(scan(), after)
    assert diffs == (Difference(kind=DriftKind.PORT, subject="tcp/9199", before=None, after="listening"),)
    assert diffs[0].describe() == "port tcp/9199: not listening -> listening"
    assert compare_scans(scan(), after, ignore_ports={"tcp/9199"}) == ()


def test_ports_fall_back_to_tcp_port_list() -> None:
    assert listening_ports({"listening_tcp_ports": [22, 9199]}) == {"tcp/22", "tcp/9199"}


def test_order_is_kind_then_subject() -> None:
    after = scan(
        packages={"nwc-drill-agent": "1.1.0", "openssh-server": "1:9.2p1-2"},
        services={"nwc-drill-agent": "running", "ssh": "stopped"},
        listening=["tcp 0.0.0.0:22", "tcp 0.0.0.0:9106", "tcp 0.0.0.0:9199", "udp 0.0.0.0:68"],
    )
    kinds = [d.kind for d in compare_scans(scan(), after)]
    assert kinds == [DriftKind.PACKAGE, DriftKind.SERVICE, DriftKind.PORT, DriftKind.PORT]
