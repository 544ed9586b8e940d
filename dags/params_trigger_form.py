"""The trigger form from typed params (post "Introducing Apache Airflow version 2.6.3 support on Amazon MWAA"), on
Airflow 3: each `Param` carries a JSON schema, the UI draws a field for it (a list for an enum, a number with bounds,
a date picker, a list, a JSON editor), and a run whose conf breaks the schema is refused before it exists, in the UI
and through the REST API alike."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="params_trigger_form",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "airflow3-features"],
    params={
        "environment": Param("dev", enum=["dev", "staging", "prod"], description="Where the report goes."),
        "batch_size": Param(100, type="integer", minimum=1, maximum=1000, description="Records per batch."),
        "report_date": Param("2026-01-01", type="string", format="date", description="The day to report."),
        "regions": Param(["us-east-1"], type="array", items={"type": "string"}, minItems=1, description="Regions."),
        "options": Param({"dry_run": True}, type="object", properties={"dry_run": {"type": "boolean"}},
                         required=["dry_run"], description="Run options."),
    },
    doc_md=__doc__,
) as dag:
    @task
    def report(params=None) -> dict:
        return {key: params[key] for key in ("environment", "batch_size", "report_date", "regions", "options")}

    report()
