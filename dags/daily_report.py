"""The daily report, moved to Airflow 3 (notebook 10): the fixed version of sample_data/airflow2_dags/daily_report.py.

What changed: `schedule` replaces `schedule_interval`; a fixed `start_date` replaces `days_ago`; the operators come
from the standard provider (`EmptyOperator` replaces `DummyOperator`); `DAG` comes from `airflow.sdk`; the callable
asks for the context it needs by name (`provide_context` is gone) and reads `logical_date`, not `execution_date`.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def build_report(ds=None, logical_date=None) -> dict:
    print("report for", logical_date)
    return {"day": ds}


with DAG("daily_report", schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
         tags=["workbook", "operations"], doc_md=__doc__) as dag:
    start = EmptyOperator(task_id="start")
    report = PythonOperator(task_id="report", python_callable=build_report)
    start >> report
