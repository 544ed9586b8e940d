"""The continuous timetable (post "Introducing Apache Airflow version 2.6.3 support on Amazon MWAA"), on Airflow 3:
`schedule="@continuous"` starts the next run as soon as the last one ends, whether it succeeded or failed;
`max_active_runs=1` is required. Pause the DAG to stop it. Every third run fails here (a Variable counts the runs), to
show the next one starts anyway."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Variable, task

COUNTER = "continuous_timetable_runs"

with DAG(
    dag_id="continuous_timetable",
    schedule="@continuous",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    tags=["workbook", "airflow3-features"],
    doc_md=__doc__,
) as dag:
    @task
    def step() -> int:
        # the run's number, kept in a Variable: XComs of a failed try are not kept for the next run
        number = int(Variable.get(COUNTER, default=0)) + 1
        Variable.set(COUNTER, str(number))  # Variables hold strings
        if number % 3 == 0:
            raise RuntimeError(f"run {number} fails on purpose; the timetable starts the next one anyway")
        return number

    step()
