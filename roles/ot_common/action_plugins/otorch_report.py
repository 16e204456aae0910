"""otorch_report: a phase's result (docs/contracts.md section 5), reported from the controller in one task.

An action plugin: it runs inside the forked worker (no module, no new Python, no connection) and replaces each
role's "record the checks" and "compute the verdict" set_facts and its set_stats. From the phase's checks it
computes `ok` (no failed check), builds `otorch_result` (schema 1, host = inventory_hostname) and returns it
with

    ansible_stats: {data: {otorch_results: {<host>: otorch_result}}, per_host: false, aggregate: true}

which is what reaches ansible-runner's `playbook_on_stats` artifact_data (otorchestrator/execution/events.py).
It never fails on a failed check: ansible-core only applies the `ansible_stats` of an OK result, so the role's
"fail the host" task comes after it (`when: not <registered>['otorch_result']['ok']`); `failed_checks` lists
the names of the failed checks for its message. Bad arguments fail the task with a message naming the field.

    - name: Report the diagnostics
      otorch_report:
        phase: diagnostics
        checks: "{{ _ot_diagnostics_probe['checks'] }}"        # [{name, ok, value, threshold, detail}]
        values: "{{ _ot_diagnostics_probe['values'] }}"        # default {}
        backup_id: null                                        # str or null (default)
        backup_id_on_failure: true                             # false: backup_id is null unless ok
        versions_before: {}                                    # {package: version or null} (default {})
        versions_after: {}
      register: _ot_diagnostics_report

In the collection this file is plugins/action/otorch_report.py (scripts/build-collection.sh).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

SCHEMA = 1
PHASES = ("diagnostics", "backup", "install", "verify", "rollback", "scan")
RESULTS_KEY = "otorch_results"  # = otorchestrator.execution.events.RESULTS_KEY
ARGS = frozenset(
    ("phase", "checks", "values", "backup_id", "backup_id_on_failure", "versions_before", "versions_after")
)


class ReportArgsError(ValueError):
    """An argument of otorch_report that is missing or of the wrong type; the message names it."""


_KINDS = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "float"),
    (str, "string"),
    (Mapping, "mapping"),
    (list, "list"),
)


def _type(value: Any) -> str:
    """The YAML name of a value's type (templated values are tagged subclasses: never their class name)."""
    if value is None:
        return "null"
    return next((name for kind, name in _KINDS if isinstance(value, kind)), type(value).__name__)


def _checks(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise ReportArgsError(f"checks must be a list of checks, got {_type(raw)}")
    checks = []
    for i, check in enumerate(raw):
        where = f"checks[{i}]"
        if not isinstance(check, Mapping):
            raise ReportArgsError(f"{where} must be a mapping {{name, ok, ...}}, got {_type(check)}")
        name = check.get("name")
        if not isinstance(name, str) or not name:
            raise ReportArgsError(f"{where}.name must be a non-empty string, got {name!r}")
        if not isinstance(check.get("ok"), bool):
            raise ReportArgsError(f"{where}.ok ({name}) must be a boolean, got {check.get('ok')!r}")
        if "detail" in check and not isinstance(check["detail"], str):
            raise ReportArgsError(f"{where}.detail ({name}) must be a string, got {_type(check['detail'])}")
        checks.append(dict(check))
    return checks


def _mapping(args: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = args.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ReportArgsError(f"{key} must be a mapping, got {_type(value)}")
    return dict(value)


def _versions(args: Mapping[str, Any], key: str) -> dict[str, Any]:
    versions = _mapping(args, key)
    for package, version in versions.items():
        if not isinstance(package, str) or not (version is None or isinstance(version, str)):
            raise ReportArgsError(
                f"{key} must map package names to a version string or null, got {package!r}: {version!r}"
            )
    return versions


def build_result(host: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The otorch_result of contracts.md section 5 from otorch_report's arguments (pure; ReportArgsError)."""
    unknown = sorted(set(args) - ARGS)
    if unknown:
        raise ReportArgsError(f"unknown argument(s) {', '.join(unknown)}; known: {', '.join(sorted(ARGS))}")
    phase = args.get("phase")
    if phase not in PHASES:
        raise ReportArgsError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    if "checks" not in args:
        raise ReportArgsError("checks is required (a list, empty when nothing was checked)")
    checks = _checks(args["checks"])
    backup_id = args.get("backup_id")
    if not (backup_id is None or isinstance(backup_id, str)):
        raise ReportArgsError(f"backup_id must be a string or null, got {_type(backup_id)}")
    on_failure = args.get("backup_id_on_failure", True)
    if not isinstance(on_failure, bool):
        raise ReportArgsError(f"backup_id_on_failure must be a boolean, got {on_failure!r}")
    values = _mapping(args, "values")
    before, after = _versions(args, "versions_before"), _versions(args, "versions_after")
    ok = all(c["ok"] for c in checks)
    return {
        "schema": SCHEMA,
        "phase": phase,
        "host": host,
        "ok": ok,
        "checks": checks,
        "values": values,
        "backup_id": backup_id if ok or on_failure else None,
        "versions_before": before,
        "versions_after": after,
    }


def report(host: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The task result: otorch_result, failed_checks (names), the ansible_stats that reach artifact_data."""
    result = build_result(host, args)
    return {
        "changed": False,
        "otorch_result": result,
        "failed_checks": [c["name"] for c in result["checks"] if not c["ok"]],
        "ansible_stats": {"data": {RESULTS_KEY: {host: result}}, "per_host": False, "aggregate": True},
    }


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        host = (task_vars or {}).get("inventory_hostname")
        if not isinstance(host, str) or not host:
            raise AnsibleActionFail("otorch_report: no inventory_hostname in the task's variables")
        try:
            result.update(report(host, self._task.args))
        except ReportArgsError as exc:
            raise AnsibleActionFail(f"otorch_report: {exc}") from None
        return result
