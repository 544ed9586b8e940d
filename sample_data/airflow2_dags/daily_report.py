"""A DAG written for Airflow 2, as many teams still have them: notebook 10's pre-upgrade checks find what Airflow 3
removed (`schedule_interval`, `days_ago`, `provide_context`, the `execution_date` context key, `DummyOperator`) and
what moved (`airflow.DAG`, the operators now in the standard provider). It does not import on Airflow 3; its fixed
version is dags/daily_report.py."""

from airflow import DAG
from airflow.operators.dummy import DummyOperator
from airflow.operators.python import PythonOperator
from airflow.utils.dates import days_ago


def report(**context):
    print("report for", context["execution_date"])
    return {"day": context["ds"]}


with DAG("daily_report", schedule_interval="@daily", start_date=days_ago(1), catchup=False,
         tags=["workbook", "operations"]) as dag:
    start = DummyOperator(task_id="start")
    build = PythonOperator(task_id="report", python_callable=report, provide_context=True)
    start >> build
