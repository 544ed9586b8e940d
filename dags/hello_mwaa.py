"""Hello, MWAA: the workbook's first DAG.

Greets, lists the DAG files in the environment's S3 bucket through the `aws_default`
connection, and returns a summary as XCom. Deployable to Amazon MWAA unchanged: pass the
bucket as the run's `bucket` parameter.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="hello_mwaa",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "getting-started"],
    params={
        "bucket": Param("", type="string", description="The environment's S3 bucket (SourceBucketArn's name)."),
        "prefix": Param("dags/", type="string", description="Where the DAGs are in that bucket (DagS3Path)."),
    },
    doc_md=__doc__,
)
def hello_mwaa():
    @task
    def greet() -> str:
        from airflow import __version__

        message = f"Hello from Apache Airflow {__version__}"
        print(message)
        return message

    @task
    def list_dag_files(**context) -> list[str]:
        # Imported inside the task: top-level provider imports slow every DAG parse on the scheduler.
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        params = context["params"]
        keys = S3Hook(aws_conn_id="aws_default").list_keys(bucket_name=params["bucket"], prefix=params["prefix"])
        keys = [key for key in keys if key.endswith(".py")]  # skip the console's "dags/" folder marker
        for key in keys:
            print(f"found s3://{params['bucket']}/{key}")
        return sorted(keys)

    @task(multiple_outputs=False)
    def summarize(greeting: str, keys: list[str]) -> dict:
        summary = {"greeting": greeting, "dag_files": len(keys)}
        print(summary)
        return summary

    summarize(greet(), list_dag_files())


hello_mwaa()
