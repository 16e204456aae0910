"""Run one of the otorchestrator roles' own host modules without AnsiballZ (the controller side).

Every AnsiballZ module run costs a managed host ~0.19 s of CPU before the module does anything: ansible-core
2.19's wrapper imports ``ansible.module_utils.basic`` (and its ~40 ``_internal`` modules) from a zip, compiled
from source each time (measured on the lab: `python3 -c pass` 0.018 s, the ping module 0.194 s). Our modules
need none of it: they use a handful of AnsibleModule members and the role's module_utils, which import only the
standard library. So when the connection pipelines (ssh, as the project's ansible.cfg sets it), the action
plugin of such a module (roles/ot_common/action_plugins/<module>.py) sends, on the task's connection and with
its become, environment and interpreter:

    <interpreter> -c 'import json,sys; ...'   stdin: {"boot": HOST_BOOT, "sources": {...}, "params": {...}}

HOST_BOOT (below) registers the module's module_utils (its ``from ansible.module_utils.X`` and
``ansible_collections...plugins.module_utils.X`` imports, transitively) from those sources, gives it a small
``ansible.module_utils.basic.AnsibleModule`` with exactly the members our modules use (params, check_mode,
run_command, get_bin_path, exit_json, fail_json), and runs the module as ``__main__``; it prints the module's
JSON result, as AnsiballZ would. The arguments are validated here, on the controller, by ansible-core's own
ArgumentSpecValidator against the module's ``ARGUMENT_SPEC`` (a literal at module level, read with ast:
the one spec its ``main()`` also hands AnsibleModule), so types, defaults and errors are ansible-core's.

Anything else runs the module the normal way (``_execute_module``, AnsiballZ): a connection or become that does
not pipeline (podman, as Molecule uses; winrm), Mitogen (its own ``_execute_module`` already runs modules in a
kept interpreter on the host), an async or delegated task, a spec with ``no_log`` options, a module without
ARGUMENT_SPEC, an import of a module_utils that is not a role's or collection's file (ansible-core's own, as
ot_scan_probe's facts), or no known interpreter (no ``ansible_python_interpreter`` and none discovered yet).
The result says which ran: ``otorch_ran: direct | module``. Nothing is written on the host (no remote temp
dir); a host without the interpreter, or a module that crashes, gives the same failed result as AnsiballZ would
(module_stdout, module_stderr, rc).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import module_utils_loader

_IMPORT = re.compile(
    r"^\s*from\s+((?:ansible\.module_utils|ansible_collections\.[\w.]+\.plugins\.module_utils)\.[\w.]+)\s+import\b",
    re.M,
)
_SHIMMED = "ansible.module_utils.basic"
BOOT_COMMAND = (
    "import json,sys; d=json.loads(sys.stdin.buffer.read().decode('utf-8')); "
    "exec(compile(d['boot'], '<otorch-direct>', 'exec'), {'__name__': 'otorch_direct', 'DOC': d})"
)

# Host side: Python 3.6+ and the standard library only (the managed hosts' Python). DOC is the stdin document.
HOST_BOOT = r'''
import importlib.abc
import importlib.util
import json
import os
import shlex
import subprocess
import sys

SOURCES = DOC["sources"]          # {dotted name: [file name, source]}: the module_utils the module imports
MODULE_NAME, MODULE_FILE, MODULE_SOURCE = DOC["module"]
PARAMS, CHECK_MODE = DOC["params"], DOC["check_mode"]
PACKAGES = set()
for _name in list(SOURCES) + ["ansible.module_utils.basic"]:
    _parts = _name.split(".")
    PACKAGES.update(".".join(_parts[:i]) for i in range(1, len(_parts)))


def _emit(result):
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


class AnsibleModule(object):
    """The members of ansible.module_utils.basic.AnsibleModule the otorchestrator modules use."""

    def __init__(self, argument_spec=None, supports_check_mode=False, **_ignored):
        self.params = PARAMS        # validated on the controller against the same ARGUMENT_SPEC
        self.check_mode = CHECK_MODE
        if CHECK_MODE and not supports_check_mode:
            self.exit_json(skipped=True, msg="remote module (%s) does not support check mode" % MODULE_NAME)

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        dirs = list(opt_dirs or []) + os.environ.get("PATH", "").split(os.pathsep)
        dirs += [d for d in ("/sbin", "/usr/sbin", "/usr/local/sbin") if d not in dirs]
        for d in dirs:
            path = os.path.join(d, arg)
            if d and os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        if required:
            self.fail_json(msg="Failed to find required executable \"%s\" in paths: %s" % (arg, os.pathsep.join(dirs)))
        return None

    def run_command(self, args, check_rc=False, environ_update=None, handle_exceptions=True, data=None,
                    binary_data=False, cwd=None, **_ignored):
        argv = shlex.split(args) if isinstance(args, str) else [str(a) for a in args]
        env = dict(os.environ)
        env.update(environ_update or {})
        stdin = None
        if data is not None:
            stdin = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
            if not binary_data:
                stdin += b"\n"
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, close_fds=True)
            out, err = proc.communicate(stdin)
        except (OSError, IOError) as exc:
            if not handle_exceptions:
                raise
            self.fail_json(rc=exc.errno, msg=str(exc), cmd=argv)
        out, err = out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape")
        if check_rc and proc.returncode != 0:
            self.fail_json(cmd=argv, rc=proc.returncode, stdout=out, stderr=err, msg=err.rstrip())
        return proc.returncode, out, err

    def exit_json(self, **result):
        result.setdefault("changed", False)
        _emit(result)
        sys.exit(0)

    def fail_json(self, msg, **result):
        result.update(failed=True, msg=msg)
        _emit(result)
        sys.exit(1)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the shipped module_utils from SOURCES, their parent packages as empty packages, and the shim."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in SOURCES or fullname == "ansible.module_utils.basic":
            return importlib.util.spec_from_loader(fullname, self, origin=SOURCES.get(fullname, ["shim"])[0])
        if fullname in PACKAGES:
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__name__
        if name == "ansible.module_utils.basic":
            module.AnsibleModule = AnsibleModule
        elif name in SOURCES:
            filename, source = SOURCES[name]
            exec(compile(source, filename, "exec"), module.__dict__)


sys.meta_path.insert(0, _Finder())
exec(compile(MODULE_SOURCE, MODULE_FILE, "exec"), {"__name__": "__main__", "__file__": MODULE_FILE})
_emit({"failed": True, "msg": "module %s ended without a result" % MODULE_NAME})
sys.exit(1)
'''


class DirectUnavailable(Exception):
    """Why a module runs through AnsiballZ instead (the message is shown at -vvv)."""


def argument_spec(source: str, filename: str) -> dict[str, Any]:
    """The module's ``ARGUMENT_SPEC = {...}`` (a literal at module level)."""
    for node in ast.parse(source, filename).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "ARGUMENT_SPEC" for t in node.targets
        ):
            try:
                spec = ast.literal_eval(node.value)
            except ValueError as exc:
                raise DirectUnavailable(f"{filename}: ARGUMENT_SPEC is not a literal ({exc})") from None
            if not isinstance(spec, dict):
                raise DirectUnavailable(f"{filename}: ARGUMENT_SPEC is not a dict")
            return spec
    raise DirectUnavailable(f"{filename}: no ARGUMENT_SPEC at module level")


def has_no_log(spec: Mapping[str, Any]) -> bool:
    for option in spec.values():
        if isinstance(option, Mapping) and (
            option.get("no_log") or has_no_log(option.get("options") or {})
        ):
            return True
    return False


def module_utils_file(name: str, search: list[str]) -> Path:
    """The source file of one module_utils import: a role's (`search`: the module_utils loader's directories)
    or a collection's (importable on the controller); ansible-core's own are not shipped."""
    if name.startswith("ansible_collections."):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise DirectUnavailable(f"module_utils {name} not found on the controller")
        return Path(spec.origin)
    relative = name[len("ansible.module_utils.") :].replace(".", "/") + ".py"
    for directory in search:
        candidate = Path(directory) / relative
        if candidate.is_file():
            return candidate
    raise DirectUnavailable(f"{name} is not a role's module_utils file")


def module_utils_sources(source: str, search: list[str]) -> dict[str, list[str]]:
    """{dotted name: [file, source]} of every module_utils `source` imports, transitively (not the shim)."""
    found: dict[str, list[str]] = {}
    pending = [source]
    while pending:
        for name in _IMPORT.findall(pending.pop()):
            if name == _SHIMMED or name in found:
                continue
            if name.startswith("ansible.module_utils.") and "." in name[len("ansible.module_utils.") :]:
                raise DirectUnavailable(f"{name} is ansible-core's")
            path = module_utils_file(name, search)
            text = path.read_text(encoding="utf-8")
            found[name] = [str(path), text]
            pending.append(text)
    return found


def host_document(
    module: str, path: Path, args: Mapping[str, Any], check_mode: bool, search: list[str]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the stdin document for HOST_BOOT, None) or (None, the failed result of invalid arguments)."""
    source = path.read_text(encoding="utf-8")
    spec = argument_spec(source, str(path))
    if has_no_log(spec):
        raise DirectUnavailable(f"{module}: an option is no_log (ansible-core masks it)")
    sources = module_utils_sources(source, search)
    validated = ArgumentSpecValidator(spec).validate(dict(args))
    if validated.error_messages:
        return None, {"failed": True, "msg": "; ".join(validated.error_messages)}
    params = json.loads(json.dumps(validated.validated_parameters, default=str))
    doc = {"boot": HOST_BOOT, "sources": sources, "module": [module, str(path), source], "params": params,
           "check_mode": check_mode}  # fmt: skip
    return doc, None


class DirectModule(ActionBase):
    """The action plugin of each of our modules (the task's action names it): direct when the connection
    pipelines, else AnsiballZ."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True  # an async task goes through AnsiballZ

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        self.module = self._task.action.rpartition(".")[2]
        try:
            ran = self._run_direct(task_vars)
        except DirectUnavailable as why:
            self._display_vvv(f"{self.module}: AnsiballZ ({why})")
            ran = dict(self._execute_module(module_name=self._task.action, module_args=self._task.args,
                                            task_vars=task_vars, wrap_async=self._task.async_val))  # fmt: skip
            ran["otorch_ran"] = "module"
        result.update(ran)
        return result

    def _display_vvv(self, text: str) -> None:
        from ansible.utils.display import Display

        Display().vvv(text, host=self._play_context.remote_addr)

    def _interpreter(self, task_vars: Mapping[str, Any]) -> str:
        given = task_vars.get("ansible_python_interpreter")
        if given:
            return str(self._templar.template(given))
        discovered = (task_vars.get("ansible_facts") or {}).get("discovered_interpreter_python")
        if discovered:
            return str(discovered)
        raise DirectUnavailable("no ansible_python_interpreter and none discovered yet")

    def _run_direct(self, task_vars: Mapping[str, Any]) -> dict[str, Any]:
        if self._task.async_val:
            raise DirectUnavailable("async task")
        if self._task.delegate_to:
            raise DirectUnavailable("delegated task (its interpreter and connection are another host's)")
        if any(c.__module__.startswith("ansible_mitogen") for c in type(self).__mro__):
            raise DirectUnavailable("Mitogen runs modules in its own interpreter on the host")
        if not self._is_pipelining_enabled("new"):
            raise DirectUnavailable("the connection does not pipeline")
        context = self._shared_loader_obj.module_loader.find_plugin_with_context(
            self._task.action, collection_list=self._task.collections
        )
        if not context.resolved or not context.plugin_resolved_path:
            raise DirectUnavailable(f"module {self._task.action} not found")
        search = [str(p) for p in module_utils_loader._get_paths()]  # the roles' module_utils dirs among them
        doc, invalid = host_document(
            self.module, Path(context.plugin_resolved_path), self._task.args, bool(self._task.check_mode), search
        )
        if invalid is not None:
            return invalid
        env = self._compute_environment_string()
        command = " ".join(x for x in (env, self._interpreter(task_vars), "-c", shlex.quote(BOOT_COMMAND)) if x)
        res = self._low_level_execute_command(command, sudoable=True, in_data=json.dumps(doc).encode("utf-8"))
        data = dict(self._parse_returned_data(res, "legacy"))
        data.pop("_ansible_parsed", None)
        data["otorch_ran"] = "direct"
        return data
