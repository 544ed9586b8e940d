"""ANTI-PATTERN, on purpose: a Variable read at the top level of a DAG file.

Every parse of this file (on MWAA, every 30 s by default, on every scheduler/DAG processor) calls the secrets
backend. With Secrets Manager that is a billed GetSecretValue call each time. Notebook 04 measures it with the
secrets cache off and on. Not in dags/: the workbook's DAG integrity test rejects exactly this.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Variable, dag, task

BUCKET = Variable.get("workbook_bucket", default="unset")  # runs at parse time: the anti-pattern


@dag(dag_id="top_level_variable", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
     tags=["workbook", "anti-pattern"])
def top_level_variable():
    @task
    def show() -> str:
        return BUCKET

    show()


top_level_variable()
