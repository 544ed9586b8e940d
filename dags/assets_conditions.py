"""A consumer on several assets (Airflow 3's asset conditions): `(test_csv & reference_data) | manual_refresh` runs
when both `test_csv` and `reference_data` have had an event since its last run, or when `manual_refresh` has. An
event can come from a producer task's outlet, or from outside Airflow through the REST API (`POST /assets/events`)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, task

test_csv, reference_data, manual_refresh = Asset(name="test_csv"), Asset(name="reference_data"), Asset(name="manual_refresh")

with DAG(
    dag_id="assets_conditions",
    schedule=(test_csv & reference_data) | manual_refresh,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "airflow3-features"],
    doc_md=__doc__,
) as dag:
    @task
    def which_events(triggering_asset_events=None) -> list[str]:
        return sorted(asset.name for asset in triggering_asset_events)

    which_events()
