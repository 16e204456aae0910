"""The exit codes of every `otorch` command: one table, one enum (docs/cli.md shows the same table).

A code means the same thing whichever command returns it: "no state store" is `NO_STATE` for `status`,
`audit verify`, `report` and `records` alike, "refused, nothing changed" is `REFUSED` for `run` and `drill`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # done; every host succeeded, every check passed
    ERROR = 1  # unexpected error (a bug, or a failure with no better code)
    USAGE = 2  # bad arguments or options (click's own code for usage errors)
    HOSTS_FAILED = 3  # completed, but some host did not succeed (run, scan, drill, drift)
    HALTED = 4  # a wave's failure budget was spent, a wave was declined, or a safety re-check stopped the run
    REFUSED = 5  # refused, nothing started or changed: run lock held, safety check, missing approval
    ATTENTION = 6  # a host needs an operator: rollback_failed or needs_reconcile
    ABORTED = 7  # an operator aborted the run
    INPUT_INVALID = (
        8  # an input file is unusable (inventory, advisories, catalog, plan, ...): nothing written
    )
    NO_STATE = 9  # no state store (or no such run) where the command looked: the message names the path
    INTEGRITY = 10  # a proof failed: audit chain broken, a signature or a hash does not match
    INFEASIBLE = 11  # a constraint cannot be met (e.g. `otorch waves --strict`)
    VIOLATION = 12  # a policy check the caller asked to fail on found violations (report --fail-on-violation)
    CHANGED = 13  # something changed that needs a look: drift from the baselines, new findings (watch)
    AUDIT_UNAVAILABLE = 14  # the audit record could not be written or (policy halt) forwarded: run stopped
    STATE_UNAVAILABLE = 15  # the state store could not be written (disk full, read-only, gone): run stopped


MEANING: dict[ExitCode, str] = {
    ExitCode.OK: "done; every host succeeded, every check passed",
    ExitCode.ERROR: "unexpected error",
    ExitCode.USAGE: "usage error: bad arguments or options",
    ExitCode.HOSTS_FAILED: "completed, but some host did not succeed",
    ExitCode.HALTED: "halted: a failure budget was spent, a wave was declined, or a safety re-check failed",
    ExitCode.REFUSED: "refused, nothing started or changed (run lock, safety check, missing approval)",
    ExitCode.ATTENTION: "operator attention: a host is rollback_failed or needs_reconcile",
    ExitCode.ABORTED: "aborted by an operator",
    ExitCode.INPUT_INVALID: "an input file is unusable: nothing written",
    ExitCode.NO_STATE: "no state store (or no such run) where the command looked",
    ExitCode.INTEGRITY: "a proof failed: audit chain broken, signature or hash mismatch",
    ExitCode.INFEASIBLE: "a constraint cannot be met",
    ExitCode.VIOLATION: "violations found and the caller asked to fail on them",
    ExitCode.CHANGED: "changed since last time: drift from the baselines, or new applicable findings",
    ExitCode.AUDIT_UNAVAILABLE: "audit unavailable: a record could not be written or forwarded; run halted",
    ExitCode.STATE_UNAVAILABLE: "state store unavailable: it could not be written (disk full?); run stopped",
}


def exit_codes_help(*codes: ExitCode) -> str:
    """An `Exit codes:` block for a command's --help (click keeps the lines with the \\b marker)."""
    lines = ["\b", "Exit codes (docs/cli.md has the whole table):"]
    lines += [
        f"  {int(code):>2}  {MEANING[code]}" for code in sorted(set(codes) | {ExitCode.OK, ExitCode.USAGE})
    ]
    return "\n".join(lines)
