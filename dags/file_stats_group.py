"""Mapping over a task group (post "Introducing Apache Airflow version 2.6.3 support on Amazon MWAA": dynamic task
mapping), on Airflow 3.

`per_file` is a task group of two tasks, `read` then `stats`; `.partial()` fixes the bucket for every instance and
`.expand()` makes one instance of the whole group per file `list_files` finds. `summary` receives every instance's
`stats`, in file order.
"""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import DAG, Param, task, task_group

with DAG(
    dag_id="file_stats_group",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "airflow3-features"],
    params={"bucket": Param("", type="string", minLength=3), "prefix": Param("texts/", type="string")},
    doc_md=__doc__,
) as dag:
    @task
    def list_files(params=None) -> list[str]:
        return sorted(S3Hook().list_keys(bucket_name=params["bucket"], prefix=params["prefix"]))

    @task_group
    def per_file(key: str, bucket: str):
        @task
        def read(key: str, bucket: str) -> str:
            return S3Hook().read_key(key=key, bucket_name=bucket)

        @task
        def stats(text: str) -> dict:
            return {"lines": len(text.splitlines()), "words": len(text.split())}

        return stats(read(key, bucket))

    @task
    def summary(all_stats: list[dict]) -> dict:
        return {"files": len(all_stats), "lines": sum(s["lines"] for s in all_stats),
                "words": sum(s["words"] for s in all_stats)}

    summary(per_file.partial(bucket="{{ params.bucket }}").expand(key=list_files()))
