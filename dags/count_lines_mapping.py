"""Dynamic task mapping, from the post "Introducing Apache Airflow version 2.6.3 support on Amazon MWAA" (its
`count_lines` map-reduce), on Airflow 3.

`list_files` lists the text files under a prefix; `count_lines` is mapped over them, one task instance per file, as
many as there are files at run time; `total` adds the counts. Upload more files and the next run has more instances.
`max_active_tis_per_dag` caps how many mapped instances run at once; `[core] max_map_length` (1024 by default) caps
how many a run may create: over more files, `list_files` fails (its list is refused) and `count_lines` does not
run.
"""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="count_lines_mapping",
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

    @task(max_active_tis_per_dag=4)
    def count_lines(key: str, params=None) -> int:
        return len(S3Hook().read_key(key=key, bucket_name=params["bucket"]).splitlines())

    @task
    def total(counts: list[int]) -> int:
        return sum(counts)

    total(count_lines.expand(key=list_files()))
