"""Load the roles' Ansible modules and their shared module_utils
(roles/*/library, roles/ot_common/module_utils) as plain Python modules, and run a module's main()
in-process as Ansible would
(arguments in, JSON out)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
FIXTURES = ROOT / "tests" / "fixtures" / "role_probes"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def probe() -> ModuleType:
    """roles/ot_common/module_utils/otorch_probe.py, importable as ansible.module_utils.otorch_probe."""
    name = "ansible.module_utils.otorch_probe"
    if name not in sys.modules:
        _load(name, ROLES / "ot_common" / "module_utils" / "otorch_probe.py")
    return sys.modules[name]


def services() -> ModuleType:
    """roles/ot_common/module_utils/otorch_services.py, importable as ansible.module_utils.otorch_services
    (it imports otorch_probe, loaded first)."""
    probe()
    name = "ansible.module_utils.otorch_services"
    if name not in sys.modules:
        _load(name, ROLES / "ot_common" / "module_utils" / "otorch_services.py")
    return sys.modules[name]


def module(role: str, name: str) -> ModuleType:
    services()
    return _load(f"otorch_test_{name}", ROLES / role / "library" / f"{name}.py")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def run_module(
    mod: ModuleType,
    args: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    check_mode: bool = False,
) -> dict[str, Any]:
    """main() of a module with these arguments; the JSON it printed (exit_json or fail_json)."""
    from ansible.module_utils import basic

    payload = dict(
        args, _ansible_check_mode=check_mode, _ansible_remote_tmp="/tmp", _ansible_keep_remote_files=False
    )
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": payload}).encode())
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    out: list[dict[str, Any]] = []

    def capture(self: Any, **kwargs: Any) -> None:
        out.append(kwargs)
        raise SystemExit(0)

    def capture_fail(self: Any, msg: str, **kwargs: Any) -> None:
        out.append(dict(kwargs, failed=True, msg=msg))
        raise SystemExit(1)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", capture)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", capture_fail)
    with pytest.raises(SystemExit):
        mod.main()
    return out[0]
