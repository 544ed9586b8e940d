"""The local MWAA control plane: the `mwaa` API (as in the boto3 service model) over real Airflow 3 processes.

moto has no MWAA. This emulator serves the API on the local cloud's gateway (requests signed for
`airflow`), validates requests against the local cloud (`validation`), keeps environments per account and
region with one locked state machine (`backend`), runs each environment as real Airflow processes
(`lifecycle`, `runtime`) with its plugins.zip, requirements.txt and startup script (`plugins`, `requirements`,
`startup_script`), mirrors its DAGs
from S3 (`dagsync`), and emits MWAA status-change events to the local cloud's default EventBridge bus. `responses`
maps HTTP onto the backend.

Emulated, not real: the environment runs on this machine with LocalExecutor (its CeleryExecutorQueue is
created in SQS but not used; its workers serve only the default queue), each Airflow version runs from a virtual
environment of its own (`versions`) rather than an image, an upgrade's snapshot is a copy of the SQLite metadata DB,
the VPC endpoint services are names only, and the CLI endpoint (`/aws_mwaa/cli`) is served by the gateway.
"""

from __future__ import annotations

import threading
from pathlib import Path

from helpers.localcloud.emulators.mwaa.backend import BackendDict, Shared
from helpers.localcloud.emulators.mwaa.dagsync import DagSync
from helpers.localcloud.emulators.mwaa.responses import MwaaResponses
from helpers.localcloud.emulators.mwaa.runtime import AirflowRuntime, template_db
from helpers.paths import cache_dir


class MwaaEmulator(MwaaResponses):
    """The WSGI app the gateway mounts. Tests inject fake runtime, sync and interpreter factories to drive the state
    machine."""

    def __init__(self, state_dir: str, endpoint: str, runtime_factory=AirflowRuntime, sync_factory=DagSync, python_for=None):
        shared = Shared(Path(state_dir) / "mwaa", endpoint, cache_dir(), runtime_factory, sync_factory, python_for)
        super().__init__(BackendDict(shared))
        if runtime_factory is AirflowRuntime:
            # Migrate the template DB now, in the background, so the first environment starts in seconds.
            threading.Thread(target=self._warm_template, daemon=True).start()

    def _warm_template(self) -> None:
        try:
            template_db(self.shared.cache_dir)
        except Exception:  # reported when an environment is created
            pass
