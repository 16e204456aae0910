"""The direct path of our host modules (roles/ot_common/action_plugins/_otorch_direct.py): the controller's
document (spec, module_utils, validated arguments) and the host side (HOST_BOOT) run by a real Python."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "roles" / "ot_common" / "action_plugins"
_spec = importlib.util.spec_from_file_location("otorch_direct_action", PLUGINS / "_otorch_direct.py")
assert _spec is not None and _spec.loader is not None
direct = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(direct)

UTILS = ROOT / "roles" / "ot_common" / "module_utils"
MODULES = sorted(ROOT.glob("roles/*/library/ot_*.py"))
DIRECT = {p.stem for p in PLUGINS.glob("ot_*.py")}

TOY = """
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.toy_utils import double

ARGUMENT_SPEC = {
    "n": {"type": "int", "required": True},
    "argv": {"type": "list", "elements": "str", "default": []},
    "how": {"type": "str", "choices": ["ok", "fail", "crash", "missing"], "default": "ok"},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    if p["how"] == "fail":
        module.fail_json(msg="asked to fail", n=p["n"])
    if p["how"] == "crash":
        raise RuntimeError("boom")
    if p["how"] == "missing":
        module.run_command(["/nonexistent/x"])
    rc, out, err = module.run_command(p["argv"], environ_update={"TOY": "yes"}) if p["argv"] else (0, "", "")
    module.exit_json(changed=not module.check_mode, doubled=double(p["n"]), rc=rc, out=out, err=err,
                     check_mode=module.check_mode, sh=module.get_bin_path("sh"),
                     none=module.get_bin_path("nope-x"))


if __name__ == "__main__":
    main()
"""


def toy(tmp_path: Path) -> tuple[Path, list[str]]:
    (tmp_path / "library").mkdir()
    (tmp_path / "module_utils").mkdir()
    (tmp_path / "module_utils" / "toy_utils.py").write_text(
        "import os\n\n\ndef double(n):\n    return 2 * n\n"
    )
    module = tmp_path / "library" / "toy.py"
    module.write_text(TOY)
    return module, [str(tmp_path / "module_utils")]


def run_host(doc: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run([sys.executable, "-c", direct.BOOT_COMMAND], input=json.dumps(doc).encode(),
                          capture_output=True, check=False, timeout=60)  # fmt: skip
    lines = [line for line in done.stdout.decode().splitlines() if line.startswith("{")]
    return done.returncode, json.loads(lines[-1]) if lines else {}, done.stderr.decode()


def test_every_module_with_a_direct_action_has_a_literal_spec_and_only_role_module_utils() -> None:
    assert DIRECT, "no direct action plugins"
    assert {p.stem for p in MODULES} >= DIRECT
    for path in (p for p in MODULES if p.stem in DIRECT):
        source = path.read_text()
        spec = direct.argument_spec(source, str(path))
        assert spec and not direct.has_no_log(spec), path
        assert set(direct.module_utils_sources(source, [str(UTILS)])) <= {
            f"ansible.module_utils.{p.stem}" for p in UTILS.glob("*.py")
        }


def test_host_side_runs_the_module_with_validated_params(tmp_path: Path) -> None:
    module, search = toy(tmp_path)
    doc, invalid = direct.host_document(
        "toy", module, {"n": "21", "argv": ["sh", "-c", "echo $TOY"]}, False, search
    )
    assert invalid is None and doc is not None and doc["params"]["n"] == 21 and doc["params"]["how"] == "ok"
    rc, result, _err = run_host(doc)
    assert rc == 0, result
    assert result["doubled"] == 42 and result["out"] == "yes\n" and result["changed"] is True
    assert result["sh"].endswith("/sh") and result["none"] is None and result["check_mode"] is False


def test_check_mode_reaches_the_module(tmp_path: Path) -> None:
    module, search = toy(tmp_path)
    doc, _ = direct.host_document("toy", module, {"n": 1}, True, search)
    assert doc is not None
    rc, result, _err = run_host(doc)
    assert rc == 0 and result["check_mode"] is True and result["changed"] is False


def test_bad_arguments_fail_with_ansible_cores_message_before_the_host(tmp_path: Path) -> None:
    module, search = toy(tmp_path)
    doc, invalid = direct.host_document("toy", module, {"n": "many", "colour": "red"}, False, search)
    assert doc is None and invalid is not None and invalid["failed"] is True
    assert "colour" in invalid["msg"] and "n" in invalid["msg"] and "int" in invalid["msg"], invalid["msg"]


@pytest.mark.parametrize(
    ("how", "rc", "expect"),
    [
        ("fail", 1, {"failed": True, "msg": "asked to fail", "n": 3}),
        ("crash", 1, None),
        ("missing", 1, {"failed": True, "rc": 2}),
    ],
)
def test_failures_are_reported_as_a_module_would(tmp_path: Path, how: str, rc: int, expect: Any) -> None:
    module, search = toy(tmp_path)
    doc, _ = direct.host_document("toy", module, {"n": 3, "how": how}, False, search)
    assert doc is not None
    got_rc, result, err = run_host(doc)
    assert got_rc == rc
    if expect is None:
        assert (
            result == {} and "RuntimeError: boom" in err and str(module) in err
        )  # the traceback names the file
    else:
        assert expect.items() <= result.items()


def test_no_spec_no_log_or_core_module_utils_take_the_module_path(tmp_path: Path) -> None:
    module, search = toy(tmp_path)
    module.write_text(TOY.replace("ARGUMENT_SPEC = {", "SPEC = {").replace("ARGUMENT_SPEC)", "SPEC)"))
    with pytest.raises(direct.DirectUnavailable, match="no ARGUMENT_SPEC"):
        direct.host_document("toy", module, {"n": 1}, False, search)
    module.write_text(TOY.replace('"required": True}', '"required": True, "no_log": True}', 1))
    with pytest.raises(direct.DirectUnavailable, match="no_log"):
        direct.host_document("toy", module, {"n": 1}, False, search)
    module.write_text(TOY.replace("toy_utils import double", "common.text.converters import to_text"))
    with pytest.raises(direct.DirectUnavailable, match="ansible-core"):
        direct.host_document("toy", module, {"n": 1}, False, search)
    module.write_text(
        TOY.replace("ARGUMENT_SPEC = {", "ARGUMENT_SPEC = dict(**{").replace("},\n}\n", "},\n})\n")
    )
    with pytest.raises(direct.DirectUnavailable, match="not a literal"):
        direct.host_document("toy", module, {"n": 1}, False, search)
