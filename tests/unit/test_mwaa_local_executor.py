"""The local MWAA's executor holds tasks of queues no worker serves (as MWAA's Celery workers leave them queued) and
lets the scheduler revoke them; tasks of the served queue go to LocalExecutor unchanged and cannot be revoked."""

from __future__ import annotations

import sys
import uuid

import pytest

from helpers.localcloud.emulators.mwaa import runtime

sys.path.insert(0, str(runtime.AIRFLOW_PYTHONPATH))  # as the local MWAA's PYTHONPATH puts it for Airflow

from airflow.executors.workloads import ExecuteTask  # noqa: E402
from airflow.executors.workloads.task import TaskInstanceDTO  # noqa: E402
from mwaa_local_executor import MwaaLocalExecutor  # noqa: E402


def workload(task_id: str, queue: str) -> ExecuteTask:
    ti = TaskInstanceDTO.model_construct(id=uuid.uuid4(), dag_id="d", task_id=task_id, run_id="r", try_number=1,
                                         map_index=-1, queue=queue, pool_slots=1, priority_weight=1)
    return ExecuteTask.model_construct(ti=ti)


def test_the_executor_the_runtime_names_is_this_class():
    module, _, name = runtime.EXECUTOR.rpartition(".")
    assert (module, name) == (MwaaLocalExecutor.__module__, MwaaLocalExecutor.__name__)
    env = runtime.AirflowRuntime(runtime.Path("/tmp/h"), runtime.Path("/tmp/d"), runtime.Path("/tmp/c"), {}).environment({}, None, "INFO")
    assert env["AIRFLOW__CORE__EXECUTOR"] == runtime.EXECUTOR and env["PYTHONPATH"] == str(runtime.AIRFLOW_PYTHONPATH)


def test_a_task_of_an_unserved_queue_is_held_and_one_of_the_default_queue_is_queued_to_run():
    executor = MwaaLocalExecutor(parallelism=2)
    assert executor.served_queues == {"default"}
    served, unserved = workload("a", "default"), workload("b", "gpu")
    executor.queue_workload(served, session=None)
    executor.queue_workload(unserved, session=None)
    assert list(executor.queued_tasks) == [served.ti.key]
    assert list(executor.unserved) == [unserved.ti.key]


def test_the_scheduler_can_revoke_a_held_task_but_not_one_a_worker_may_run():
    executor = MwaaLocalExecutor(parallelism=2)
    served, unserved = workload("a", "default"), workload("b", "gpu")
    executor.queue_workload(served, session=None)
    executor.queue_workload(unserved, session=None)
    executor.revoke_task(ti=unserved.ti)
    assert executor.unserved == {}
    with pytest.raises(NotImplementedError):  # the scheduler's stuck-in-queued check then leaves it alone
        executor.revoke_task(ti=served.ti)
    assert list(executor.queued_tasks) == [served.ti.key]


def test_the_airflow_processes_import_jsonschema_as_on_mwaa_without_rfc3987_syntax():
    """MWAA's image lacks rfc3987-syntax, which costs 3 s of import in every Airflow process where it is installed."""
    import subprocess

    image = (runtime.Path(__file__).parents[2] / "requirements" / "mwaa-3.3.1" / "mwaa_image_installed.txt").read_text()
    assert "rfc3987" not in image.lower()
    probe = ("import sys, time; t = time.monotonic(); import jsonschema; "
             "print(time.monotonic() - t, [m for m in sys.modules if 'rfc3987' in m])")
    env = {"PYTHONPATH": str(runtime.AIRFLOW_PYTHONPATH), "PATH": "/usr/bin:/bin"}
    seconds, loaded = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60,
                                     check=True).stdout.split(" ", 1)
    assert loaded.strip() == "[]" and float(seconds) < 1.5, (seconds, loaded)
