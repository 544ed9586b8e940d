"""Queued tasks that never start (`[scheduler] task_queued_timeout`, from the post "Introducing Apache Airflow version
2.6.3 support on Amazon MWAA"), on Airflow 3.

A task is *queued* once the scheduler has handed it to the executor, and stays so until a worker starts it. When it
stays queued longer than `task_queued_timeout`, the scheduler takes it back from the executor and sets it to
*scheduled*; after `num_stuck_in_queued_retries` (2) such requeues it fails the task. The check runs every
`task_queued_timeout_check_interval` seconds.

`on_a_queue_no_worker_serves` names a queue no worker of the local environment serves, so it is never picked up.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

with DAG(
    dag_id="queued_timeout",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "airflow3-features"],
    doc_md=__doc__,
) as dag:
    @task
    def on_the_environments_queue() -> str:
        return "ran"

    @task(queue="reporting")  # no worker serves this queue
    def on_a_queue_no_worker_serves() -> str:
        return "never runs"

    on_the_environments_queue()
    on_a_queue_no_worker_serves()
