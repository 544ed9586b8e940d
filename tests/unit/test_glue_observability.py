"""Notebook 07's parts: the CloudTrail generator, the labels of the run timeline, and a failing Glue job's error in
the Airflow task log of the post's DAG (real Airflow, `dag.test()`, against the local cloud's Glue)."""

from __future__ import annotations

import gzip
import json
import types
from datetime import date

import pytest

from helpers.aws import cloud
from helpers.chapters.glue_observability import scenario
from helpers.chapters.glue_observability.glue_jobs import CLOUDTRAIL_AGGREGATION
from helpers.samples import cloudtrail

ACCOUNT = "123456789012"


def test_a_day_of_events_depends_on_how_long_ago_it_was_not_on_the_date():
    a = cloudtrail.events("us-east-1", date(2026, 3, 1), 1, ACCOUNT)
    b = cloudtrail.events("us-east-1", date(2026, 7, 9), 1, ACCOUNT)
    c = cloudtrail.events("us-east-2", date(2026, 7, 9), 1, ACCOUNT)
    assert [(e["eventSource"], e["eventName"], e.get("errorCode")) for e in a] == \
           [(e["eventSource"], e["eventName"], e.get("errorCode")) for e in b]
    assert a[0]["eventTime"].startswith("2026-03-01T") and b[0]["eventTime"].startswith("2026-07-09T")
    assert [e["eventName"] for e in a] != [e["eventName"] for e in c]  # regions differ
    assert [e["eventTime"] for e in a] == sorted(e["eventTime"] for e in a)


def test_records_have_cloudtrail_s_shape_and_denials_say_who_and_what():
    events = cloudtrail.events("eu-west-1", date(2026, 12, 1), 2, ACCOUNT)
    required = {"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
                "userAgent", "requestID", "eventID", "readOnly", "eventType", "recipientAccountId"}
    assert all(required <= set(e) for e in events)
    assert {e["awsRegion"] for e in events} == {"eu-west-1"}
    assert len({e["eventID"] for e in events}) == len(events)
    denied = [e for e in events if e.get("errorCode")]
    assert denied and all(e["errorCode"] == "AccessDenied" and e["userIdentity"]["arn"] in e["errorMessage"] for e in denied)
    roles = [e["userIdentity"] for e in events if e["userIdentity"]["type"] == "AssumedRole"]
    assert roles and all(r["sessionContext"]["sessionIssuer"]["arn"].startswith(f"arn:aws:iam::{ACCOUNT}:role/") for r in roles)


def test_files_are_gzipped_records_documents_named_as_cloudtrail_names_them():
    events = cloudtrail.events("us-east-1", date(2026, 12, 1), 1, ACCOUNT)
    files = cloudtrail.files("us-east-1", date(2026, 12, 1), events, ACCOUNT, per_file=50)
    assert len(files) == 4  # 160 records, 50 a file
    assert all(name.startswith(f"{ACCOUNT}_CloudTrail_us-east-1_20261201T") and name.endswith(".json.gz") for name in files)
    records = [r for body in files.values() for r in json.loads(gzip.decompress(body))["Records"]]
    assert records == events
    assert files == cloudtrail.files("us-east-1", date(2026, 12, 1), events, ACCOUNT, per_file=50)  # byte for byte
    assert cloudtrail.days(date(2026, 12, 3), 2) == [(1, date(2026, 12, 2)), (2, date(2026, 12, 1))]


def test_timeline_labels_name_the_task_the_job_run_and_the_step():
    stream = "dag_id=observability_pipeline/run_id=manual__2026-12-03T09:00:00+00:00/task_id=glue_task/attempt=1.log"
    assert scenario.span_label("Airflow", stream) == "Airflow glue_task"
    assert scenario.span_label("Glue", "jr_0123") == "Glue job run"
    assert scenario.span_label("EMR", "steps/s-123/stdout") == "EMR stdout"
    assert [scenario.service_of(g) for g in ("airflow-mwaa-workbook-Task", "/aws-glue/python-jobs/error", "/aws/emr/j-1")] == \
           ["Airflow", "Glue", "EMR"]


@pytest.fixture(scope="module")
def failing_job(module_cloud):
    """The post's job whose CloudTrail database does not exist: Athena fails the query, so the script fails."""
    cloud.client("s3").create_bucket(Bucket="t-observability")
    cloud.client("s3").put_object(Bucket="t-observability", Key="scripts/cloudtrail_aggregation.py",
                                  Body=CLOUDTRAIL_AGGREGATION.read_bytes())
    cloud.client("glue").create_job(
        Name="t-cloudtrail-aggregation", Role=f"arn:aws:iam::{ACCOUNT}:role/t-glue",
        Command={"Name": "pythonshell", "PythonVersion": "3.9",
                 "ScriptLocation": "s3://t-observability/scripts/cloudtrail_aggregation.py"},
        DefaultArguments={"--CLOUDTRAIL_GLUE_DB": "t_no_such_database", "--CLOUDTRAIL_TABLE": "cloudtrail_logs",
                          "--ATHENA_OUTPUT": "s3://t-observability/athena-results/"})
    return "t-cloudtrail-aggregation"


def test_a_failing_glue_script_s_error_reaches_the_airflow_task_log(failing_job, module_cloud, capsys):
    """The DAG's own task, run in this process (a `dag.test()` costs half a minute of a busy machine): its log gets
    the job's stdout and stderr (verbose=True), and the task fails with the run's state."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import AirflowException

    from helpers import localcloud
    from helpers.paths import DAGS_DIR

    for name, value in localcloud.exports().items():  # the hook's boto3 finds the local cloud as Glue's script does
        module_cloud.patch.setenv(name, value)
    task = DagBag(str(DAGS_DIR / "cloudtrail_glue_aggregation.py")).dags["cloudtrail_glue_aggregation"].get_task("glue_ingestion_job")
    task.job_name, task.aws_conn_id, task.job_poll_interval = failing_job, None, 0.5
    task.script_args = {"--TARGET_BUCKET": "t-observability", "--TARGET_DB": "t_reports", "--TARGET_TABLE": "t_usage",
                        "--PROCESS_DATE": "2026-11-30"}  # what the templates render to
    assert task.verbose
    pushed = {}
    ti = types.SimpleNamespace(xcom_push=lambda key, value: pushed.update({key: value}))
    with pytest.raises(AirflowException, match="FAILED"):
        task.execute({"ti": ti, "task_instance": ti})
    log = capsys.readouterr().out  # Airflow's structured log, as the task log gets it
    assert pushed.get("glue_job_run_id"), pushed
    assert "Taking snapshot for :: 2026-11-30" in log, log[-2000:]  # the job's stdout, relayed
    assert "Schema 't_no_such_database' does not exist" in log, log[-2000:]  # its stderr: Athena's error
