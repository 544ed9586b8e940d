"""Glue Python shell job of the observability pipeline: one day of raw CloudTrail files into JSON lines.

CloudTrail writes each file as one JSON document holding an array of records, which engines cannot split. This job
rewrites one day of them as one event per line (gzipped), under `<output_path>snapshot_date=<day>/`. It logs the
correlation id it was given, as `<dag_name>.<task_id> <correlation_id>`, so a Logs Insights query for the DAG run
finds these lines beside Airflow's. A day without raw files is not an error here: it writes nothing and says so.
"""

import gzip
import json
import logging
import sys

import boto3
from awsglue.utils import getResolvedOptions

## @params: [JOB_NAME]
args = getResolvedOptions(sys.argv, ["JOB_NAME", "dag_name", "task_id", "correlation_id", "input_path",
                                     "output_path", "process_date"])

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
correlation_id = args["dag_name"] + "." + args["task_id"] + " " + args["correlation_id"]
logger = logging.getLogger(args["JOB_NAME"])
logging.getLogger("botocore").setLevel(logging.WARNING)
logger.info("Correlation ID from GLUE job: " + correlation_id)

s3 = boto3.client("s3")
bucket, _, prefix = args["input_path"].removeprefix("s3://").partition("/")
day = args["process_date"]
keys = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", []) if f"/snapshot_date={day}/" in obj["Key"] and obj["Key"].endswith(".json.gz")]
logger.info(f"{correlation_id} found {len(keys)} raw CloudTrail files for {day}")

events = []
for key in keys:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    events += json.loads(gzip.decompress(body))["Records"]

if not events:
    logger.warning(f"{correlation_id} no CloudTrail events for {day}: nothing to transform")
else:
    out_bucket, _, out_prefix = args["output_path"].removeprefix("s3://").partition("/")
    key = f"{out_prefix}snapshot_date={day}/events.json.gz"
    lines = "\n".join(json.dumps(event, separators=(",", ":")) for event in events) + "\n"
    s3.put_object(Bucket=out_bucket, Key=key, Body=gzip.compress(lines.encode()))
    logger.info(f"{correlation_id} wrote {len(events)} events to s3://{out_bucket}/{key}")
