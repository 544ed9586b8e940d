"""The consumer of the post's data-aware scheduling example, on Airflow 3: scheduled on the asset `test_csv`, it runs
after each producer run that updated it, reads the file the asset event names, and counts its rows.
`max_active_tasks` is the post's throttle: at most that many of this DAG's tasks run at once."""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import DAG, Asset, task

with DAG(
    dag_id="assets_consumer",
    schedule=[Asset(name="test_csv")],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=2,
    tags=["workbook", "airflow3-features"],
    doc_md=__doc__,
) as dag:
    @task
    def count_rows(triggering_asset_events=None) -> int:
        event = next(iter(triggering_asset_events.values()))[-1]  # the newest event of the one asset
        text = S3Hook().read_key(key=event.extra["key"], bucket_name=event.extra["bucket"])
        return len(text.splitlines()) - 1  # without the header

    count_rows()
