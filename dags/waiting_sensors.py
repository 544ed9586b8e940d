"""The same waiting workload twice: six S3 sensors, classic (poking in a worker slot) and deferrable.

Each sensor waits for its own key, `waits/<run id>/key_<n>`, that arrives later. `waiting_sensors_classic`
keeps a worker slot busy for the whole wait (the sensor sleeps between pokes inside the task process);
`waiting_sensors_deferrable` hands the wait to the triggerer and frees the slot. Notebook 03 samples the task
states of both runs and counts the worker-slot-seconds each used. Deployable to Amazon MWAA unchanged.
"""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import DAG, Param

SENSORS = 6
POKE_SECONDS = 5

for deferrable in (False, True):
    with DAG(
        dag_id=f"waiting_sensors_{'deferrable' if deferrable else 'classic'}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["workbook", "deferrable", "sensors"],
        params={"bucket": Param("", type="string", description="Bucket the keys arrive in.")},
        doc_md=__doc__,
    ):
        for n in range(SENSORS):
            S3KeySensor(
                task_id=f"wait_for_key_{n}",
                bucket_name="{{ params.bucket }}",
                bucket_key=f"waits/{{{{ run_id }}}}/key_{n}",
                deferrable=deferrable,
                poke_interval=POKE_SECONDS,
                timeout=10 * 60,
            )
