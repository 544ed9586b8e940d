"""The environment the local MWAA's LocalExecutor forks its workers in: what the startup script exported as `worker`
(see mwaa_local_executor.py). Plain Python, no Airflow import, so it can be tested on its own."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

WORKER_ENVIRON = Path("startup") / "worker_environ.json"  # relative to AIRFLOW_HOME, as startup_script.WORKER_ENVIRON


@contextmanager
def worker_environ():
    """The workers' environment in this process while a worker is forked (or spawned), then the scheduler's again."""
    path = Path(os.environ.get("AIRFLOW_HOME", "")) / WORKER_ENVIRON
    try:
        changes = json.loads(path.read_text())
    except (OSError, ValueError):
        yield
        return
    touched = [*changes.get("unset", []), *changes.get("set", {})]
    saved = {name: os.environ.get(name) for name in touched}
    for name in changes.get("unset", []):
        os.environ.pop(name, None)
    os.environ.update(changes.get("set", {}))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
