"""The application layer: what `otorch` does, as library calls the CLI and the demo share.

plan, stage, scan, start_run, resume, rollback, abort, status, drill, the run and compliance reports. Each
takes plain values (paths, names, a request dataclass) and, where it touches hosts or the store, a `Caller`
(where state lives, which backend, who watches and answers), returns a result dataclass and raises
`AppError` (a message and its exit code, otorchestrator/exitcodes.py) when it refuses. The CLI parses
options into these calls and renders what they return; nothing here prints.
"""

from otorchestrator.app.errors import AppError

__all__ = ["AppError"]
