"""EMR step of the observability pipeline: the day's denied calls, per principal and action, as a CSV report.

Usage: error_report.py <s3_input_path> <s3_output_path> <dag_name> <task_id> <correlation_id>

Submitted with spark-submit, as in the AWS post. The work is small enough for the driver alone, so the script needs
no Spark API: plain Python with boto3, which EMR's Python has (the local cloud's EMR runs it with plain Python).
It logs the correlation id as `<dag_name>.<task_id> <correlation_id>`; with no input it fails, loudly.
"""


import csv
import gzip
import io
import json
import logging
import sys
from collections import Counter

import boto3

if __name__ == "__main__":
    if len(sys.argv) != 6:
        print("""
        Usage: error_report.py <s3_input_path> <s3_output_path> <dag_name> <task_id> <correlation_id>
        """, file=sys.stderr)
        sys.exit(-1)
    input_path = sys.argv[1]
    output_path = sys.argv[2]
    dag_task_name = sys.argv[3] + "." + sys.argv[4]
    correlation_id = dag_task_name + " " + sys.argv[5]
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logger = logging.getLogger(dag_task_name)
    logger.info("Spark session started: " + correlation_id)

    s3 = boto3.client("s3")
    bucket, _, prefix = input_path.removeprefix("s3://").partition("/")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]
    if not keys:
        logger.error(f"{correlation_id} no processed events under {input_path}: did the Glue task write this day?")
        sys.exit(1)

    denied, total = Counter(), 0
    for key in keys:
        for line in gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode().splitlines():
            event = json.loads(line)
            total += 1
            if event.get("errorCode") in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
                denied[(event["userIdentity"]["arn"], event["eventSource"].split(".")[0] + ":" + event["eventName"])] += 1
    logger.info(f"{correlation_id} read {total} events from {len(keys)} file(s), {sum(denied.values())} denied")

    report = io.StringIO()
    writer = csv.writer(report)
    writer.writerow(["principal", "action", "denied"])
    for (principal, action), count in denied.most_common():
        writer.writerow([principal, action, count])
    out_bucket, _, out_prefix = output_path.removeprefix("s3://").partition("/")
    s3.put_object(Bucket=out_bucket, Key=out_prefix + "denied_calls.csv", Body=report.getvalue().encode())
    logger.info(f"{correlation_id} wrote s3://{out_bucket}/{out_prefix}denied_calls.csv ({len(denied)} rows)")
