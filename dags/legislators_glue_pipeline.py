"""The legislators pipeline with deferrable operators: wait for the data, crawl it, denormalize it with Glue.

1. `wait_for_data` (S3KeySensor, deferrable): waits for the three dataset files. While it waits, the task is
   *deferred*: the triggerer polls S3 asynchronously and no worker slot is held.
2. `create_crawler` (GlueCrawlerCreateOperator) makes the crawler for this run; `crawl_legislators`
   (GlueCrawlerRunOperator, deferrable) runs it: the Data Catalog gets one table per file (persons_json,
   memberships_json, organizations_json).
3. `denormalize_legislators` (GlueJobOperator, deferrable, verbose): a Glue Python shell job whose script is in
   S3 joins the tables and writes legislator_history (partitioned by chamber) and current_members as Parquet,
   registered in the catalog. The job's output is relayed into this task's log.
4. `delete_crawler` (GlueCrawlerDeleteOperator), the crawler's teardown: it runs whenever the crawler was created,
   even after a failure, so the next run creates it afresh. (The provider deprecates the old create-or-update-and-run
   GlueCrawlerOperator in favour of these.)

Deployable to Amazon MWAA unchanged: everything environment-specific is a run parameter. The MWAA execution
role needs S3 on the data bucket, Glue on the crawler, job and database, and iam:PassRole on the Glue role.
"""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.amazon.aws.operators.glue_crawler import (
    GlueCrawlerCreateOperator,
    GlueCrawlerDeleteOperator,
    GlueCrawlerRunOperator,
)
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import DAG, Param

FILES = ["persons.json", "memberships.json", "organizations.json"]
POLL_SECONDS = 5  # how often the triggers ask AWS; the providers' defaults (5-60 s) suit long jobs
TAGS = {"workbook": "mwaa-workbook", "workbook:notebook": "{{ params.notebook }}"}

with DAG(
    dag_id="legislators_glue_pipeline",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "deferrable", "glue"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(seconds=10)},
    params={
        "bucket": Param("", type="string", description="Bucket for the dataset, the job script and the output."),
        "database": Param("legislators", type="string", description="Glue database for the crawled and written tables."),
        "glue_role": Param("", type="string", description="Name of the IAM role Glue assumes for the crawler and job."),
        "notebook": Param("03_deferrable_operators", type="string", description="Tag value: clean-up finds the crawler and job by it."),
    },
    doc_md=__doc__,
) as dag:
    wait_for_data = S3KeySensor(
        task_id="wait_for_data",
        bucket_name="{{ params.bucket }}",
        bucket_key=[f"legislators/{name}" for name in FILES],
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=30 * 60,
    )
    create_crawler = GlueCrawlerCreateOperator(
        task_id="create_crawler",
        config={
            "Name": "{{ params.database }}-crawler",
            "Role": "{{ params.glue_role }}",
            "DatabaseName": "{{ params.database }}",
            "Targets": {"S3Targets": [{"Path": "s3://{{ params.bucket }}/legislators/"}]},
            "Tags": TAGS,
        },
    )
    crawl_legislators = GlueCrawlerRunOperator(
        task_id="crawl_legislators",
        crawler_name="{{ params.database }}-crawler",
        deferrable=True,
        poll_interval=POLL_SECONDS,
    )
    denormalize_legislators = GlueJobOperator(
        task_id="denormalize_legislators",
        job_name="{{ params.database }}-denormalize",
        script_location="s3://{{ params.bucket }}/scripts/denormalize_legislators.py",
        iam_role_name="{{ params.glue_role }}",
        create_job_kwargs={
            "Command": {"Name": "pythonshell", "PythonVersion": "3.9",
                        "ScriptLocation": "s3://{{ params.bucket }}/scripts/denormalize_legislators.py"},
            "DefaultArguments": {"library-set": "analytics"},  # awswrangler and pandas on Glue
            "MaxCapacity": 0.0625,  # the smallest Python shell job: 1/16 DPU
            "Tags": TAGS,
        },
        script_args={"--database": "{{ params.database }}", "--output_path": "s3://{{ params.bucket }}/curated/"},
        update_config=True,
        deferrable=True,
        waiter_delay=POLL_SECONDS,
        verbose=True,
    )
    delete_crawler = GlueCrawlerDeleteOperator(task_id="delete_crawler", crawler_name="{{ params.database }}-crawler")
    wait_for_data >> create_crawler >> crawl_legislators >> denormalize_legislators
    denormalize_legislators >> delete_crawler.as_teardown(setups=create_crawler)
