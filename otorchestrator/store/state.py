"""The state store: one SQLite database per state directory (see `StatePaths.db`).

`StateStore` is the tables of its modules together, one module per group of tables:

* `database.py`: the connection, transactions (WAL, synchronous=FULL: every method commits durably before
  it returns, so a transition is on disk before the action it starts), migrations;
* `runs.py`: runs and the run lock; `host_states.py`: host states and their transitions;
* `run_records.py`: phase results, task events, waves; `patches.py`: the installed-patch history;
* `soaks.py`: each soak of a wave and whether it finished;
* `scans.py`: scans (not runs) and their task events;
* `baselines.py`: scan baselines and the audit chain's head.

Time is always passed in. During a run only the run's journal (store/journal.py, `RunJournal`) writes here;
during a scan, the scan's (store/journal_scan.py, `ScanJournal`).
"""

from __future__ import annotations

from otorchestrator.store.baselines import BaselineTables
from otorchestrator.store.host_states import HostStateTables
from otorchestrator.store.patches import PatchTable, installed_record
from otorchestrator.store.run_records import RunRecordTables, TaskEventRecord, WaveRecord
from otorchestrator.store.runs import RunTable
from otorchestrator.store.scans import ScanTable
from otorchestrator.store.soaks import SoakTable

__all__ = ["StateStore", "TaskEventRecord", "WaveRecord", "installed_record"]


class StateStore(
    RunTable, HostStateTables, RunRecordTables, PatchTable, SoakTable, ScanTable, BaselineTables
):
    """Safe to share between threads."""
