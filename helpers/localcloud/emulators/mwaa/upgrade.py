"""An in-place version upgrade's steps on an environment's metadata DB: the snapshot, its restore, the migration log.

On MWAA, UpdateEnvironment(AirflowVersion=newer) snapshots the metadata database's storage volume (status
CREATING_SNAPSHOT), migrates the database to the target version and starts the target's components; when that fails,
MWAA restores the snapshot and the previous version (ROLLING_BACK), and the DAG run history survives either way.
Locally (emulated) the snapshot is a consistent copy of the environment's SQLite DB (SQLite's online backup, taken
while the old Airflow still runs) at `<environment home>/snapshot/airflow.db`, the migration is the target version's
`airflow db migrate`, and its output goes to `$AIRFLOW_HOME/logs/upgrade.log` and, when SchedulerLogs are enabled, to
the scheduler's log group in a stream named like the image's own (`upgrade_<hostname>_<epoch>.log`; MWAA publishes no
such stream: emulated, to show what ran).
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

SNAPSHOT = Path("snapshot") / "airflow.db"  # under the environment's home (mwaa/<name>/<region>)
LOG_MODULE = "SchedulerLogs"
LOG_FILE = "upgrade.log"  # under $AIRFLOW_HOME/logs
# What SQLite may keep beside a DB; a restored DB must not meet the journal of the one it replaces.
_SIDE_FILES = ("-journal", "-wal", "-shm")


def snapshot(db: Path, to: Path) -> Path:
    """A consistent copy of the SQLite DB `db` at `to`, taken while other processes may write to `db`."""
    to.parent.mkdir(parents=True, exist_ok=True)
    partial = to.with_name(f"{to.name}.partial")
    partial.unlink(missing_ok=True)
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as source, closing(sqlite3.connect(partial)) as copy:
        source.backup(copy)
    partial.replace(to)  # a snapshot is whole or absent
    return to


def restore(snapshot_db: Path, db: Path) -> None:
    """Put the snapshot back as `db` (nothing may have `db` open)."""
    for suffix in _SIDE_FILES:
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(snapshot_db, db)


def forget_generated_config(airflow_home: Path) -> None:
    """Remove the airflow.cfg the previous version wrote with its own defaults (the local MWAA sets everything through
    the environment, as MWAA's image does); the version that starts next writes its own, as a fresh image has."""
    (airflow_home / "airflow.cfg").unlink(missing_ok=True)


def log_lines(old: str, new: str, done: subprocess.CompletedProcess, started: float) -> list[tuple[float, str]]:
    """What the upgrade log says: the step, the migration's output, the result."""
    output = [line for line in f"{done.stdout}\n{done.stderr}".splitlines() if line.strip()]
    result = "succeeded" if done.returncode == 0 else f"failed (exit status {done.returncode})"
    return ([(started, f"[INFO] - Upgrading Airflow {old} to {new}: airflow db migrate ({new})")]
            + [(started, line) for line in output]
            + [(time.time(), f"[INFO] - airflow db migrate {result} in {time.time() - started:.1f} s")])


def failure(new: str, done: subprocess.CompletedProcess) -> str:
    """One line: why the migration failed."""
    lines = [line.strip() for line in f"{done.stdout}\n{done.stderr}".splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return f"airflow db migrate ({new}) failed: {(errors or lines or ['no output'])[-1][:300]}"


def stream_name(hostname: str | None = None, epoch: float | None = None) -> str:
    return f"upgrade_{hostname or socket.gethostname()}_{time.time() if epoch is None else epoch}.log"
