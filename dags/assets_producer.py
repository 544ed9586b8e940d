"""The producer of the data-aware scheduling example from the post "What's new with Amazon MWAA support for Apache
Airflow version 2.4.3", on Airflow 3, where datasets became assets.

`fetch` reads one page of records from an HTTP API (the run's `api_url`: a public API you name on AWS, the local
cloud's sample API locally), `write_csv` writes them to S3 as `test.csv`, and its outlet, the asset `test_csv`, records
an asset event when (and only when) the task succeeds. DAGs scheduled on the asset run after it; a failed producer
run updates nothing, so triggers nothing.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.request

import pendulum
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import DAG, Asset, Param, task

TEST_CSV = Asset(name="test_csv")  # what the scheduler tracks; where the file is comes with the event (extra)

with DAG(
    dag_id="assets_producer",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "airflow3-features"],
    params={"api_url": Param("", type="string", minLength=8, description="An HTTP API answering JSON records."),
            "bucket": Param("", type="string", minLength=3, description="Bucket for data/test.csv.")},
    doc_md=__doc__,
) as dag:
    @task
    def fetch(params=None) -> list[dict]:
        with urllib.request.urlopen(params["api_url"], timeout=30) as response:
            answer = json.load(response)
        return answer["records"] if isinstance(answer, dict) else answer

    @task(outlets=[TEST_CSV])
    def write_csv(records: list[dict], params=None, outlet_events=None) -> int:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=sorted(records[0]))
        writer.writeheader()
        writer.writerows(records)
        S3Hook().load_string(out.getvalue(), key="data/test.csv", bucket_name=params["bucket"], replace=True)
        outlet_events[TEST_CSV].extra = {"bucket": params["bucket"], "key": "data/test.csv", "rows": len(records)}
        return len(records)

    write_csv(fetch())
