"""Notifiers (post "Introducing Apache Airflow version 2.6.3 support on Amazon MWAA"), on Airflow 3: a notifier is a
callback object. `SnsNotifier` (amazon provider) publishes to an SNS topic when a task fails and when the DAG run
succeeds; `S3IncidentNotifier`, written here, is a custom `BaseNotifier` that files an incident record (JSON) in S3
for each failed task. The run's `fail` param decides whether `flaky` fails."""

from __future__ import annotations

import json

import pendulum
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.notifications.sns import SnsNotifier
from airflow.sdk import DAG, BaseNotifier, Param, task


class S3IncidentNotifier(BaseNotifier):
    """Write `<prefix><dag_id>/<run_id>/<task_id>.json` with what an on-call engineer needs first."""

    template_fields = ("bucket", "prefix")

    def __init__(self, bucket: str, prefix: str = "incidents/"):
        super().__init__()
        self.bucket, self.prefix = bucket, prefix

    def notify(self, context) -> None:
        ti = context["ti"]
        record = {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "try_number": ti.try_number,
                  "state": str(ti.state), "error": str(context.get("exception") or "")[:500]}
        S3Hook().load_string(json.dumps(record), key=f"{self.prefix}{ti.dag_id}/{ti.run_id}/{ti.task_id}.json",
                             bucket_name=self.bucket, replace=True)


failure_to_sns = SnsNotifier(target_arn="{{ params.topic_arn }}", subject="Airflow task failed",
                             message="{{ ti.dag_id }}.{{ ti.task_id }} failed in run {{ ti.run_id }}")
success_to_sns = SnsNotifier(target_arn="{{ params.topic_arn }}", subject="Airflow DAG run succeeded",
                             message="{{ dag.dag_id }} run {{ run_id }} succeeded")

with DAG(
    dag_id="notifiers_demo",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "airflow3-features"],
    params={"topic_arn": Param("", type="string", minLength=20), "bucket": Param("", type="string", minLength=3),
            "fail": Param(False, type="boolean")},
    on_success_callback=success_to_sns,
    default_args={"on_failure_callback": [failure_to_sns, S3IncidentNotifier(bucket="{{ params.bucket }}")]},
    doc_md=__doc__,
) as dag:
    @task
    def flaky(params=None) -> str:
        if params["fail"]:
            raise RuntimeError("the upstream file is empty")
        return "ok"

    flaky()
