"""The one error the application layer raises: a message for the operator and the exit code it means."""

from __future__ import annotations

from otorchestrator.exitcodes import ExitCode


class AppError(Exception):
    """Refused or failed, with the exit code of otorchestrator/exitcodes.py. `usage`: the caller asked for
    something that does not fit (the CLI shows it as a usage error, exit 2)."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR, *, usage: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = ExitCode.USAGE if usage else code
        self.usage = usage

    def __str__(self) -> str:
        return self.message
