"""The local MWAA's executor: Airflow's LocalExecutor, with workers that serve only the environment's queue.

On MWAA, Celery workers take tasks from the environment's own queue. A task no worker picks up stays *queued*, and
the scheduler's `task_queued_timeout` check revokes it from the executor and sets it back to *scheduled*, twice, then
fails it. LocalExecutor runs every task whatever its `queue`, and cannot revoke, so on it that check never acts.

This executor holds the tasks whose `queue` is not `[operators] default_queue` (the queue the environment's workers
serve) and never runs them, and revokes them when the scheduler asks. Tasks of the served queue run exactly as
LocalExecutor runs them and cannot be revoked (as upstream): a short `task_queued_timeout` never requeues a task that a
busy machine is slow to start.

With a startup script, MWAA's workers run in containers of their own, with what the script exported when it ran as
`worker`. Here the workers are processes this executor forks from the scheduler: each is forked inside that worker
environment (`$AIRFLOW_HOME/startup/worker_environ.json`, written by the local MWAA's startup_script module: variables
to set and to unset relative to the scheduler's; mwaa_worker_environ.py), so its tasks see the worker's variables and
the scheduler keeps its own. Without that file nothing changes.

Airflow imports this module by name (`[core] executor`); the local MWAA puts this folder on the components'
PYTHONPATH, and nothing of the workbook's helpers is importable from it.
"""

from __future__ import annotations

from airflow.configuration import conf
from airflow.executors import workloads
from airflow.executors.local_executor import LocalExecutor
from mwaa_worker_environ import worker_environ

EXECUTOR = f"{__name__}.MwaaLocalExecutor"


class MwaaLocalExecutor(LocalExecutor):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.served_queues = frozenset({conf.get("operators", "default_queue")})
        self.unserved: dict = {}  # task instance key -> its workload, which no worker will take

    def _spawn_worker(self):
        with worker_environ():
            super()._spawn_worker()

    def queue_workload(self, workload, session) -> None:
        if isinstance(workload, workloads.ExecuteTask) and workload.ti.queue not in self.served_queues:
            self.unserved[workload.ti.key] = workload
            self.log.warning("No worker serves queue %r (workers serve %s): task %s stays queued",
                             workload.ti.queue, sorted(self.served_queues), workload.ti.key)
            return
        super().queue_workload(workload, session)

    def revoke_task(self, *, ti) -> None:
        if self.unserved.pop(ti.key, None) is None:
            # Served tasks run on LocalExecutor's processes, which cannot take a task back: the scheduler's
            # stuck-in-queued check skips this executor's tasks for this pass, as it does for LocalExecutor.
            raise NotImplementedError("LocalExecutor cannot revoke a task a worker may already run")
        self.log.warning("Revoked task %s of unserved queue %r", ti.key, ti.queue)
