"""ot_patch_install: runs on the host without AnsiballZ when the connection pipelines (_otorch_direct.py)."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("otorch_direct_action", Path(__file__).with_name("_otorch_direct.py"))
_base = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(_base)  # type: ignore[union-attr]
ActionModule = _base.DirectModule
