"""ot_verify's probe module (roles/ot_verify/library/ot_verify_probe.py) in-process, the host's commands
answered with outputs recorded on the lab's nw-gw-01 after installing nwc-gateway 1.1.0, which breaks its
service (tests/fixtures/role_probes/): the checks, their order, values and details as the task chain
recorded them."""

from __future__ import annotations

import functools
import http.server
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from role_modules import fixture, module, run_module, services

V = module("ot_verify", "ot_verify_probe")
# what the task chain recorded of the health command: stdout and stderr as the command module strips them
HEALTH_DETAIL = (
    '{"status": "down", "package": "nwc-gateway", "port": 9104, "error": "[Errno 111] Connection refused"}'
)


def entry(package: str = "nwc-gateway", **over: Any) -> dict[str, Any]:
    e = {
        "package": package,
        "target_version": "1.1.0",
        "services": [package],
        "ports": [9104],
        "health_command": f"/usr/bin/{package}-health",
    }
    e.update(over)
    return e


class Gateway:
    """The recorded nw-gw-01: nwc-gateway 1.1.0 (ii), its service stopped, its health command failing."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        if argv[:2] == ["dpkg-query", "-W"]:
            return 1, fixture("dpkg_query_gw.txt"), "dpkg-query: no packages found matching nosuch"
        if argv[:3] == ["timeout", "15", "/usr/bin/nwc-gateway-health"]:
            out, err = fixture("health_gw.txt").split("--- stderr\n")
            return 1, out, err
        if argv[0] == "/bin/false":
            return 1, "", ""
        raise OSError(2, "No such file or directory")


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Gateway:
    from ansible.module_utils import basic

    host = Gateway()

    def run_command(self: Any, argv: list[str], **kw: Any) -> tuple[int, str, str]:
        try:
            return host.run(argv)
        except OSError as exc:
            if kw.get("handle_exceptions", True):
                raise AssertionError("a read of the host raised") from exc
            raise

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/bin/" + name)
    # the lab's hosts run no systemd: the SysV scripts answer as `service --status-all` recorded them
    recorded = services().parse_sysv_status_all(fixture("service_status_all_gw.txt"))
    sysv = functools.partial(services().service_states, systemd=False, sysv=lambda names, environ: recorded)
    monkeypatch.setattr(V, "service_states", sysv)
    return host


@pytest.fixture
def web() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1: /health answers 200 with 2 bytes, anything else 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code, body = (200, b"ok") if self.path == "/health" else (404, b"no")
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_broken_gateway_fails_port_service_and_health_in_the_roles_order(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    timeout = "Timeout when waiting for 127.0.0.1:%s"  # wait_for's words
    patches = [entry(ports=[port]), {"id": "no-package", "services": ["ssh"], "ports": [port]}]
    out = run_module(V, {"patches": patches, "port_timeout": 0}, monkeypatch)
    assert out["changed"] is False and out["versions"] == {"nwc-gateway": "1.1.0"}
    assert [(c["name"], c["ok"], c["value"], c["threshold"], c["detail"]) for c in out["checks"]] == [
        ("version:nwc-gateway", True, "1.1.0 (ii)", "1.1.0 (ii)", ""),
        (f"port_listening:{port}", False, "closed", "listening", timeout % port),
        ("service_running:nwc-gateway", False, "stopped", "running", ""),
        ("service_running:ssh", True, "running", "running", ""),
        ("health:nwc-gateway", False, 1, 0, HEALTH_DETAIL),
    ]
    assert gateway.calls[0][:2] == ["dpkg-query", "-W"] and gateway.calls[0][3:] == ["nwc-gateway"]


def test_a_version_other_than_the_target_fails_and_check_mode_accepts_it_when_intact(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    patches = [entry(target_version="1.2.0", ports=[], services=[]), entry("nosuch", ports=[], services=[])]
    del patches[1]["health_command"]
    real = run_module(V, {"patches": patches}, monkeypatch)
    assert [(c["name"], c["ok"], c["value"]) for c in real["checks"][::2]] == [
        ("version:nwc-gateway", False, "1.1.0 (ii)"),
        ("health:nwc-gateway", False, 1),
    ]
    assert real["checks"][1] == V.check("version:nosuch", False, "None (not-installed)", "1.1.0 (ii)", "")
    assert real["versions"] == {"nwc-gateway": "1.1.0", "nosuch": None}
    sim = run_module(V, {"patches": patches}, monkeypatch, check_mode=True)["checks"]
    assert sim[0]["ok"] and sim[0]["detail"] == V.CHECK_MODE_NOTE
    assert not sim[1]["ok"] and sim[1]["detail"] == V.CHECK_MODE_NOTE  # not installed is never intact


def test_extra_commands_then_urls_worded_as_the_command_and_uri_modules(
    gateway: Gateway, web: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = [
        {"name": "up", "url": web + "/health"},
        {"name": "false", "command": "/bin/false"},
        {"name": "missing", "command": ["/nonexistent/tool", "--x"]},
        {"name": "gone", "url": web + "/gone", "status_code": 200, "timeout": 3},
        {"name": "refused", "url": f"http://127.0.0.1:{closed_port()}/"},
    ]
    out = run_module(V, {"patches": [], "extra_checks": extra}, monkeypatch)
    got = {c["name"]: (c["ok"], c["value"], c["threshold"], c["detail"]) for c in out["checks"]}
    assert list(got) == ["extra:false", "extra:missing", "extra:up", "extra:gone", "extra:refused"]
    assert got["extra:false"] == (False, 1, 0, "")
    assert got["extra:missing"] == (False, 2, 0, "")  # the command module's rc: the errno
    assert got["extra:up"] == (True, 200, 200, "OK (2 bytes)")
    assert got["extra:gone"][:3] == (False, 404, 200)
    assert got["extra:gone"][3].startswith("Status code was 404 and not [200]: HTTP Error 404")
    assert got["extra:refused"][:2] == (False, -1)
    assert got["extra:refused"][3].startswith("Status code was -1 and not [200]: Request failed")
    assert gateway.calls == [["/bin/false"], ["/nonexistent/tool", "--x"]]


def test_the_health_command_runs_under_timeout_split_into_arguments() -> None:
    seen: list[list[str]] = []

    def run(argv: list[str]) -> tuple[int, str, str]:
        seen.append(argv)
        return (0, "nwc-gateway\t1.1.0\tii \n", "") if argv[0] == "dpkg-query" else (124, "", "killed\n")

    params = {"patches": [entry(health_command="/usr/bin/h  --quick", ports=[])], "health_timeout": 7}
    params.update(port_timeout=1, extra_checks=[])
    checks, _ = V.verify(params, run, lambda names: {n: "running" for n in names}, False)
    assert seen[1] == ["timeout", "7", "/usr/bin/h", "--quick"]
    assert checks[-1] == V.check("health:nwc-gateway", False, 124, 0, "killed")


def test_a_port_that_listens_passes(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        patch = {"package": "nwc-gateway", "target_version": "1.1.0", "ports": [port, port]}
        out = run_module(V, {"patches": [patch], "port_timeout": 1}, monkeypatch)
    assert out["checks"][1:] == [V.check(f"port_listening:{port}", True, "listening", "listening", "")]


def test_an_http_check_needs_no_ansible_module_utils(
    gateway: Gateway, web: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the module also runs without AnsiballZ (ot_common/action_plugins/_otorch_direct.py), where only the
    # role's module_utils exist: its HTTP checks use the standard library, never ansible.module_utils.urls
    urls = "ansible.module_utils.urls"
    monkeypatch.delitem(sys.modules, urls, raising=False)
    out = run_module(V, {"patches": [], "extra_checks": [{"name": "web", "url": web + "/gone"}]}, monkeypatch)
    assert out["checks"][-1]["value"] == 404 and urls not in sys.modules
