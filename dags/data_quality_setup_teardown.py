"""Data quality with an ephemeral workspace: @setup creates it, @teardown removes it, whatever happens between.

Each run gets a scratch S3 bucket and Glue database (created by `create_scratch`), loads a small sample into
it, checks its quality, and `drop_scratch` deletes both, also when the check fails. Params let the notebook
make the check or the teardown fail on purpose, to show Airflow's setup/teardown rules.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, setup, task, teardown

ROWS = "id,station,trips\n1,Pershing Square N,412\n2,W 21 St & 6 Ave,388\n3,Broadway & W 58 St,351\n"
BAD_ROWS = ROWS + "4,,-5\n"


def _clients():
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return (AwsBaseHook(aws_conn_id="aws_default", client_type="s3").get_conn(),
            AwsBaseHook(aws_conn_id="aws_default", client_type="glue").get_conn())


@dag(
    dag_id="data_quality_setup_teardown",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "setup-teardown"],
    params={
        "bad_data": Param(False, type="boolean", description="Load rows that fail the quality check."),
        "fail_teardown": Param(False, type="boolean", description="Make the teardown fail after cleaning up."),
    },
    doc_md=__doc__,
)
def data_quality_setup_teardown():
    @setup
    def create_scratch(**context) -> dict:
        s3, glue = _clients()
        suffix = context["dag_run"].run_id.split("__")[-1][:19].replace(":", "").replace("-", "").replace("T", "").lower()
        scratch = {"bucket": f"mwaa-workbook-04-scratch-{suffix}", "database": f"mwaa_workbook_04_scratch_{suffix}"}
        s3.create_bucket(Bucket=scratch["bucket"])
        s3.put_bucket_tagging(Bucket=scratch["bucket"], Tagging={"TagSet": [
            {"Key": "workbook", "Value": "mwaa-workbook"}, {"Key": "workbook:notebook", "Value": "04_setup_teardown"}]})
        glue.create_database(DatabaseInput={"Name": scratch["database"]})
        print(f"created s3://{scratch['bucket']} and Glue database {scratch['database']}")
        return scratch

    @task
    def load(scratch: dict, **context) -> int:
        s3, _ = _clients()
        rows = BAD_ROWS if context["params"]["bad_data"] else ROWS
        s3.put_object(Bucket=scratch["bucket"], Key="trips/part-0.csv", Body=rows.encode())
        return rows.count("\n") - 1

    @task
    def check_quality(scratch: dict) -> dict:
        import csv
        import io

        s3, _ = _clients()
        body = s3.get_object(Bucket=scratch["bucket"], Key="trips/part-0.csv")["Body"].read().decode()
        rows = list(csv.DictReader(io.StringIO(body)))
        problems = [r["id"] for r in rows if not r["station"] or int(r["trips"]) < 0]
        if problems:
            raise ValueError(f"quality check failed: rows {problems} have no station or negative trips")
        return {"rows": len(rows), "problems": 0}

    @teardown
    def drop_scratch(scratch: dict, **context) -> None:
        s3, glue = _clients()
        for obj in s3.list_objects_v2(Bucket=scratch["bucket"]).get("Contents", []):
            s3.delete_object(Bucket=scratch["bucket"], Key=obj["Key"])
        s3.delete_bucket(Bucket=scratch["bucket"])
        glue.delete_database(Name=scratch["database"])
        print(f"deleted s3://{scratch['bucket']} and Glue database {scratch['database']}")
        if context["params"]["fail_teardown"]:
            raise RuntimeError("teardown failed on purpose (after cleaning up)")

    scratch = create_scratch()
    # Passing the setup's output to the teardown makes them a pair: clearing any task in between clears both.
    load(scratch) >> check_quality(scratch) >> drop_scratch(scratch)


data_quality_setup_teardown()
