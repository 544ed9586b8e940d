"""Glue for notebook 03: the dataset upload, the catalog, job runs and their logs, clean-up (the notebook creates the
Glue role, the database and the execution role's grant itself).

On the local target, crawls and Python shell job runs are done by the local cloud's Glue emulation
(`helpers.localcloud.emulators.glue`); `EMULATED` says so in one line for the notebook to print.
"""

from __future__ import annotations

import pandas as pd

from helpers.aws import cloud, mwaa, s3
from helpers.paths import SAMPLE_DATA_DIR

LEGISLATORS = SAMPLE_DATA_DIR / "legislators"
EMULATED = ("Glue (emulated): crawlers infer tables from the data in the local cloud's S3; Python shell job scripts "
            "run as local processes, logging to /aws-glue/python-jobs.")


def service_note() -> str:
    """Who runs the crawls and job runs, in one line: the local cloud's Glue emulation or the real service."""
    return EMULATED if cloud.settings().is_local else "Glue: the real service"


def names(notebook: str) -> dict[str, str]:
    """Names of the notebook's Glue resources (the DAG derives the crawler and job names from the database)."""
    database = "mwaa_workbook_legislators"
    return {"bucket": s3_bucket_name(notebook), "database": database, "crawler": f"{database}-crawler",
            "job": f"{database}-denormalize", "role": f"mwaa-workbook-{notebook.split('_', 1)[0]}-glue"}


def s3_bucket_name(notebook: str) -> str:
    from helpers.aws.tags import resource_name

    return resource_name(notebook, "data")


def upload_dataset(bucket: str) -> list[str]:
    """Upload the legislators dataset (what the sensor waits for)."""
    return [s3.upload_file(path, bucket, f"legislators/{path.name}") for path in sorted(LEGISLATORS.glob("*.json"))]


def tables(database: str) -> pd.DataFrame:
    """The catalog's tables: name, classification, columns, partition keys, location (bucket part removed)."""
    pages = cloud.client("glue").get_paginator("get_tables").paginate(DatabaseName=database)
    rows = [{"table": t["Name"], "classification": t.get("Parameters", {}).get("classification", ""),
             "columns": len(t["StorageDescriptor"]["Columns"]),
             "partition_keys": ",".join(k["Name"] for k in t.get("PartitionKeys", [])),
             "location": "s3://<bucket>/" + t["StorageDescriptor"]["Location"].split("/", 3)[-1]}
            for page in pages for t in page["TableList"]]
    return pd.DataFrame(rows, columns=["table", "classification", "columns", "partition_keys", "location"]).sort_values("table",
                                                                                                                      ignore_index=True)


def columns(database: str, table: str) -> pd.DataFrame:
    t = cloud.client("glue").get_table(DatabaseName=database, Name=table)["Table"]
    return pd.DataFrame(t["StorageDescriptor"]["Columns"])[["Name", "Type"]]


def partitions(database: str, table: str) -> list[list[str]]:
    pages = cloud.client("glue").get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table)
    return sorted(p["Values"] for page in pages for p in page["Partitions"])


def job_runs(job: str) -> pd.DataFrame:
    runs = cloud.client("glue").get_job_runs(JobName=job)["JobRuns"]
    return pd.DataFrame([{"state": r["JobRunState"], "seconds": r.get("ExecutionTime", 0), "error": r.get("ErrorMessage", ""),
                          "run_id": r["Id"], "log_group": r.get("LogGroupName", "")} for r in runs],
                        columns=["state", "seconds", "error", "run_id", "log_group"])


def run_job(job: str, arguments: dict[str, str], timeout: float = 300) -> pd.Series:
    """Start a run of an existing job with these arguments and wait for its end; the run as a row of job_runs()."""
    from helpers.procs import wait_until

    client = cloud.client("glue")
    run_id = client.start_job_run(JobName=job, Arguments=arguments)["JobRunId"]

    def finished() -> bool:
        return client.get_job_run(JobName=job, RunId=run_id)["JobRun"]["JobRunState"] not in ("STARTING", "RUNNING", "STOPPING", "WAITING")

    wait_until(finished, timeout, f"Glue job run of {job}", interval=1.0)
    runs = job_runs(job)
    return runs[runs.run_id == run_id].iloc[0]


def job_log(run: pd.Series, stream: str = "output") -> list[str]:
    """A job run's stdout ("output") or stderr ("error") lines from CloudWatch Logs."""
    events = cloud.client("logs").get_log_events(logGroupName=f"{run.log_group}/{stream}", logStreamName=run.run_id,
                                                 startFromHead=True)["events"]
    return [e["message"] for e in events]


def crawler_log(crawler: str) -> list[str]:
    events = cloud.client("logs").get_log_events(logGroupName="/aws-glue/crawlers", logStreamName=crawler, startFromHead=True)["events"]
    return [e["message"].split("] ", 1)[-1] for e in events]


def read_parquet_table(database: str, table: str) -> pd.DataFrame:
    """Read a Parquet table of the catalog from its S3 location (what Athena would query), partition columns included."""
    import io

    import pyarrow.parquet as pq

    location = cloud.client("glue").get_table(DatabaseName=database, Name=table)["Table"]["StorageDescriptor"]["Location"]
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    frames = []
    for key in s3.list_keys(bucket, prefix):
        if key.endswith(".parquet"):
            frame = pq.read_table(io.BytesIO(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())).to_pandas()
            for folder in key[len(prefix):].split("/")[:-1]:
                name, _, value = folder.partition("=")
                frame[name] = value
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def delete(notebook: str, environment: str) -> list[str]:
    """Delete the crawler, the job, the database (with its tables), their log streams and the environment's extra
    permission. The bucket and the role go with the notebook's tagged resources. Returns what was deleted."""
    n, client, logs = names(notebook), cloud.client("glue"), cloud.client("logs")
    deleted = []
    try:
        runs = client.get_job_runs(JobName=n["job"])["JobRuns"]
    except client.exceptions.EntityNotFoundException:
        runs = []
    for run in runs:
        for stream in ("output", "error"):
            if _delete_stream(logs, f"{run.get('LogGroupName', '/aws-glue/python-jobs')}/{stream}", run["Id"]):
                deleted.append(f"log stream {stream}/{run['Id'][:8]}…")
    if _delete_stream(logs, "/aws-glue/crawlers", n["crawler"]):
        deleted.append("crawler log stream")
    for what, call, args in (("crawler", client.delete_crawler, {"Name": n["crawler"]}),
                             ("job", client.delete_job, {"JobName": n["job"]}),
                             ("database", client.delete_database, {"Name": n["database"]})):
        try:
            call(**args)
            deleted.append(what)
        except client.exceptions.EntityNotFoundException:
            pass
    if mwaa.revoke(environment, f"{notebook}-glue-pipeline"):
        deleted.append("environment permission")
    return deleted


def _delete_stream(logs, group: str, stream: str) -> bool:
    try:
        logs.delete_log_stream(logGroupName=group, logStreamName=stream)
        return True
    except logs.exceptions.ResourceNotFoundException:
        return False


def leftovers(notebook: str) -> dict[str, list[str]]:
    """What is left of the notebook's Glue resources (empty lists after clean-up)."""
    n, client = names(notebook), cloud.client("glue")
    crawlers = [c for c in client.list_crawlers()["CrawlerNames"] if c == n["crawler"]]
    jobs = [j for j in client.list_jobs()["JobNames"] if j == n["job"]]
    databases = [d["Name"] for d in client.get_databases()["DatabaseList"] if d["Name"] == n["database"]]
    return {"crawlers": crawlers, "jobs": jobs, "databases": databases}
