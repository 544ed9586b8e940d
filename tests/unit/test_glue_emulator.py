"""The local cloud's Glue: job scripts really run, crawlers really infer tables. Pure parts directly, the rest
through boto3 over HTTP against one local cloud shared by this module."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest

from helpers.localcloud.emulators.glue import crawlers, jobs

ROLE = "arn:aws:iam::123456789012:role/tests-glue"


# --- pure parts ------------------------------------------------------------------------------------------------

def test_types_widen_like_glue():
    assert crawlers.infer_type([{"a": 1}, {"a": 2.5, "b": "x"}]) == "array<struct<a:double,b:string>>"
    assert crawlers.widen("bigint", "double") == "double"
    assert crawlers.widen("bigint", "string") == "string"
    assert crawlers.widen(None, "boolean") == "boolean"
    assert crawlers.final(crawlers.infer_type([])) == "array<string>"  # only empty lists seen
    assert crawlers.widen(crawlers.infer_type([]), "array<bigint>") == "array<bigint>"
    assert crawlers.split_struct("struct<a:bigint,b:array<struct<c:string,d:int>>>") == [
        ("a", "bigint"), ("b", "array<struct<c:string,d:int>>")]


def test_csv_and_json_samples():
    columns, records = crawlers.sample_schema("csv", b"Id,Price,Name,Flag\n1,2.5,a,true\n2,,b,false\n")
    assert columns == {"id": "bigint", "price": "double", "name": "string", "flag": "boolean"} and records == 2
    columns, records = crawlers.sample_schema("json", b'{"a": 1, "b": null}\n{"a": 2, "b": [1]}\n')
    assert columns == {"a": "bigint", "b": "array<bigint>"} and records == 2
    assert crawlers.classify("x.json", b'{"a": 1}') == "json"
    assert crawlers.classify("x.bin", b"PAR1....") == "parquet"
    assert crawlers.classify("x.csv", b"a,b\n1,2") == "csv"
    assert crawlers.classify("notes.md", b"# hello") is None


def test_files_with_different_schemas_become_one_table_each():
    files = {"s3://b/all/persons.json": ("json", {"id": "string", "name": "string"}, 3),
             "s3://b/all/memberships.json": ("json", {"person_id": "string", "start": "string"}, 5)}
    plans = {p.name: p for p in crawlers.plan_tables("s3://b/all/", files)}
    assert set(plans) == {"persons_json", "memberships_json"}
    assert plans["persons_json"].location == "s3://b/all/persons.json" and plans["persons_json"].records == 3


def test_a_folder_with_partitions_is_one_partitioned_table():
    schema = {"ride": "string", "minutes": "bigint", "year": "bigint"}
    files = {f"s3://b/data/Trips-2024/year={y}/month={m}/part.json": ("json", schema, 10) for y in (2023, 2024) for m in ("01", "02")}
    [plan] = crawlers.plan_tables("s3://b/data", files, prefix="raw_")
    assert plan.name == "raw_trips_2024" and plan.location == "s3://b/data/Trips-2024/"
    assert plan.partition_keys == ["year", "month"] and "year" not in plan.columns  # a key is not also a column
    assert sorted(plan.partitions) == [("2023", "01"), ("2023", "02"), ("2024", "01"), ("2024", "02")]
    assert plan.records == 40 and plan.files == 4
    table = plan.table_input("c")
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month"]


def test_get_resolved_options_shim_behaves_like_glue():
    script = "import sys\nfrom awsglue.utils import getResolvedOptions\nprint(getResolvedOptions(sys.argv, ['JOB_NAME', 'day']))\n"
    env = {"PYTHONPATH": str(jobs.SHIM), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-c", script, "--JOB_NAME", "j", "--extra", "1", "--day", "mon"], env=env,
                        capture_output=True, text=True)
    assert ok.stdout.strip() == "{'JOB_NAME': 'j', 'day': 'mon'}"
    missing = subprocess.run([sys.executable, "-c", script, "--JOB_NAME", "j"], env=env, capture_output=True, text=True)
    assert missing.returncode == 2 and "the following arguments are required: --day" in missing.stderr


# --- through the local cloud ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def glue_cloud(module_cloud):
    from helpers.aws import cloud

    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="tests-glue")
    return cloud.client("glue"), s3, cloud.client("logs")


def _run(glue, name: str, script: str, arguments: dict | None = None, command: str = "pythonshell", timeout: float = 60) -> dict:
    from helpers.aws import cloud

    cloud.client("s3").put_object(Bucket="tests-glue", Key=f"scripts/{name}.py", Body=script.encode())
    glue.create_job(Name=name, Role=ROLE, Command={"Name": command, "ScriptLocation": f"s3://tests-glue/scripts/{name}.py"},
                    DefaultArguments={"--day": "mon", "--size": "small"}, Timeout=1)
    run_id = glue.start_job_run(JobName=name, Arguments=arguments or {})["JobRunId"]
    deadline = time.monotonic() + timeout
    while (run := glue.get_job_run(JobName=name, RunId=run_id)["JobRun"])["JobRunState"] in ("STARTING", "RUNNING"):
        assert time.monotonic() < deadline, "the job run did not end"
        time.sleep(0.3)
    return run


def _lines(logs, group: str, stream: str) -> list[str]:
    return [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]]


ECHO = """import logging, sys
from awsglue.utils import getResolvedOptions
args = getResolvedOptions(sys.argv, ["JOB_NAME", "JOB_RUN_ID", "day", "size"])
print(sorted(args.items()))
logging.warning("a warning goes to stderr")
"""


def test_a_job_run_runs_the_script_with_its_arguments_and_logs_like_glue(glue_cloud):
    glue, _, logs = glue_cloud
    run = _run(glue, "tests-echo", ECHO, {"--size": "large"})
    assert run["JobRunState"] == "SUCCEEDED" and "ErrorMessage" not in run and "CompletedOn" in run
    assert run["LogGroupName"] == "/aws-glue/python-jobs"
    [printed] = _lines(logs, "/aws-glue/python-jobs/output", run["Id"])
    # the run's arguments override the job's defaults; Glue adds the job name and run id
    assert printed == str(sorted({"JOB_NAME": "tests-echo", "JOB_RUN_ID": run["Id"], "day": "mon", "size": "large"}.items()))
    assert _lines(logs, "/aws-glue/python-jobs/error", run["Id"]) == ["WARNING:root:a warning goes to stderr"]


def test_a_failing_script_fails_the_run_with_its_error(glue_cloud):
    glue, _, logs = glue_cloud
    run = _run(glue, "tests-fail", "rows = []\nraise ValueError(f'no rows to load: {len(rows)}')\n")
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ValueError: no rows to load: 0"
    error_log = _lines(logs, "/aws-glue/python-jobs/error", run["Id"])
    assert error_log[0].startswith("Traceback") and error_log[-1] == run["ErrorMessage"]


def test_a_missing_argument_and_a_spark_job_fail_clearly(glue_cloud):
    glue, _, _ = glue_cloud
    script = "import sys\nfrom awsglue.utils import getResolvedOptions\ngetResolvedOptions(sys.argv, ['nope'])\n"
    missing = _run(glue, "tests-missing", script)
    assert missing["JobRunState"] == "FAILED" and "required: --nope" in missing["ErrorMessage"]
    spark = _run(glue, "tests-spark", "print('never runs')\n", command="glueetl")
    assert spark["JobRunState"] == "FAILED" and "Python shell jobs only" in spark["ErrorMessage"]
    assert spark["LogGroupName"] == "/aws-glue/jobs"


def test_a_crawl_creates_tables_and_partitions_and_reports_like_glue(glue_cloud):
    import pyarrow as pa
    import pyarrow.parquet as pq

    glue, s3, logs = glue_cloud
    s3.put_object(Bucket="tests-glue", Key="lake/people.json", Body=b'{"id": 1, "tags": ["a"]}\n{"id": 2, "tags": []}\n')
    s3.put_object(Bucket="tests-glue", Key="lake/orders.json", Body=b'{"order": "o1", "total": 9.5}\n')
    for day in ("2026-01-01", "2026-01-02"):
        body = io.BytesIO()
        pq.write_table(pa.table({"ride": ["r1", "r2"], "minutes": [3, 4]}), body)
        s3.put_object(Bucket="tests-glue", Key=f"lake/rides/day={day}/part-0.parquet", Body=body.getvalue())
    s3.put_object(Bucket="tests-glue", Key="lake/README.md", Body=b"# not data")
    glue.create_crawler(Name="tests-crawler", Role=ROLE, DatabaseName="tests_lake", TablePrefix="raw_",
                        Targets={"S3Targets": [{"Path": "s3://tests-glue/lake/", "Exclusions": ["orders*"]}]})
    glue.start_crawler(Name="tests-crawler")
    deadline = time.monotonic() + 30
    while (crawler := glue.get_crawler(Name="tests-crawler")["Crawler"])["State"] != "READY":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="tests_lake")["TableList"]}
    assert set(tables) == {"raw_people_json", "raw_rides"}  # the excluded file and the README are not tables
    assert [(c["Name"], c["Type"]) for c in tables["raw_people_json"]["StorageDescriptor"]["Columns"]] == [
        ("id", "bigint"), ("tags", "array<string>")]
    rides = tables["raw_rides"]
    assert rides["Parameters"]["classification"] == "parquet" and [k["Name"] for k in rides["PartitionKeys"]] == ["day"]
    partitions = glue.get_partitions(DatabaseName="tests_lake", TableName="raw_rides")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["2026-01-01", "2026-01-02"]
    [metrics] = glue.get_crawler_metrics(CrawlerNameList=["tests-crawler"])["CrawlerMetricsList"]
    assert metrics["TablesCreated"] == 2 and metrics["TablesUpdated"] == 0
    assert any("Created table raw_rides" in line for line in _lines(logs, "/aws-glue/crawlers", "tests-crawler"))
    glue.start_crawler(Name="tests-crawler")  # a second crawl updates what the first created
    while glue.get_crawler(Name="tests-crawler")["Crawler"]["State"] != "READY":
        time.sleep(0.3)
    [metrics] = glue.get_crawler_metrics(CrawlerNameList=["tests-crawler"])["CrawlerMetricsList"]
    assert (metrics["TablesCreated"], metrics["TablesUpdated"]) == (0, 2)
    assert json.loads(json.dumps(crawler, default=str))["Name"] == "tests-crawler"
