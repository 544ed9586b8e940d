"""CloudTrail log aggregation with a Glue Python shell job: the DAG of the AWS post "Simplify AWS Glue job
orchestration and monitoring with Amazon MWAA", on Airflow 3.

One task, `glue_ingestion_job`, runs the existing Glue job `cloudtrail-aggregation` for one day and waits for it.
With `verbose=True` the operator relays the job's CloudWatch output and error lines into this task's log, so the
Airflow UI shows what the job did without opening Glue. The day comes from the run's `process_date` parameter (the
trigger form); left empty, the job processes yesterday. Trigger with a date to backfill that day.

Changes from the post's Airflow 2 DAG: `airflow.sdk`, `schedule=None` (Airflow 3's one scheduling argument), a typed `Param`
(a date field in the trigger form, validated) instead of reading `dag_run.conf` by hand, and `catchup` as a DAG
argument (it is not a task argument). Deployable to MWAA unchanged: names are run parameters with defaults.
"""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.sdk import DAG, Param

# The job reads "NONE" as "yesterday" (the post's convention).
process_date = "{{ params.process_date or 'NONE' }}"

with DAG(
    dag_id="cloudtrail_glue_aggregation",
    schedule=None,  # None for unscheduled or a cron expression, e.g. "0 12 * * *" for every day at noon
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    dagrun_timeout=pendulum.duration(minutes=30),
    max_active_runs=1,
    max_active_tasks=1,  # since there is only one task in our DAG
    tags=["workbook", "glue", "observability"],
    params={
        "process_date": Param(None, type=["null", "string"], format="date",
                              description="Day of CloudTrail events to aggregate (YYYY-MM-DD). Empty: yesterday."),
        "job_name": Param("cloudtrail-aggregation", type="string", description="The Glue job (it must exist)."),
        "target_bucket": Param("", type="string", description="Bucket for the aggregated table."),
        "target_db": Param("cloudtrail_reports", type="string", description="Glue database of the output table."),
        "target_table": Param("cloudtrail_daily_usage", type="string", description="Output table."),
    },
    doc_md=__doc__,
) as dag:
    # Log ingest. Assumes the Glue job is already created
    glue_ingestion_job = GlueJobOperator(
        task_id="glue_ingestion_job",
        job_name="{{ params.job_name }}",
        script_args={
            "--TARGET_BUCKET": "{{ params.target_bucket }}",
            "--TARGET_DB": "{{ params.target_db }}",  # should already exist
            "--TARGET_TABLE": "{{ params.target_table }}",
            "--PROCESS_DATE": process_date,
        },
        verbose=True,  # relay the job's CloudWatch logs into the task log
        wait_for_completion=True,
        job_poll_interval=3,
    )
