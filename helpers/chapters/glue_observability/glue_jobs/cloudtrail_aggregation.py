"""Glue Python shell job: one day of CloudTrail events aggregated per principal and call, written as a Parquet table.

The AWS post's script, completed: Athena does the filtering (one day, two regions) next to the data, so the job
needs only the smallest Python shell capacity; pandas aggregates; awswrangler writes the result as a partition
(snapshot_date) of a Data Catalog table. Re-running a day replaces that day's partition. Without --PROCESS_DATE it
processes yesterday.
"""

import logging
import sys
from datetime import datetime, timedelta

import awswrangler as wr
from awsglue.utils import getResolvedOptions

# Logging setup, redirects all logs to stdout (Glue sends stdout to /aws-glue/python-jobs/output)
LOGGER = logging.getLogger()
formatter = logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(module)s - %(funcName)s: %(message)s")
streamHandler = logging.StreamHandler(sys.stdout)
streamHandler.setFormatter(formatter)
LOGGER.addHandler(streamHandler)
LOGGER.setLevel(logging.INFO)

LOGGER.info(f"Passed Args :: {sys.argv}")

sql_query_template = """
select useridentity.arn as arn, region, eventsource, eventname, useragent,
       count(*) as ct, count(errorcode) as errors
from "{cloudtrail_glue_db}"."{cloudtrail_table}"
where snapshot_date='{process_date}'
and region in ('us-east-1','us-east-2')
group by 1, 2, 3, 4, 5
"""

required_args = ["CLOUDTRAIL_GLUE_DB", "CLOUDTRAIL_TABLE", "TARGET_BUCKET", "TARGET_DB", "TARGET_TABLE",
                 "ATHENA_OUTPUT"]
arg_keys = [*required_args, "PROCESS_DATE"] if "--PROCESS_DATE" in sys.argv else required_args
JOB_ARGS = getResolvedOptions(sys.argv, arg_keys)

LOGGER.info(f"Parsed Args :: {JOB_ARGS}")

# if process date was not passed as an argument, process yesterday's data
process_date = (
    JOB_ARGS["PROCESS_DATE"]
    if JOB_ARGS.get("PROCESS_DATE", "NONE") != "NONE"
    else (datetime.today() - timedelta(days=1)).strftime("%Y-%m-%d")
)

LOGGER.info(f"Taking snapshot for :: {process_date}")

final_query = sql_query_template.format(
    cloudtrail_glue_db=JOB_ARGS["CLOUDTRAIL_GLUE_DB"],
    cloudtrail_table=JOB_ARGS["CLOUDTRAIL_TABLE"],
    process_date=process_date,
)

LOGGER.info(f"Running Query :: {final_query}")

raw_cloudtrail_df = wr.athena.read_sql_query(
    sql=final_query,
    database=JOB_ARGS["CLOUDTRAIL_GLUE_DB"],
    ctas_approach=False,
    s3_output=JOB_ARGS["ATHENA_OUTPUT"],
)
LOGGER.info(f"Athena returned {len(raw_cloudtrail_df)} rows")

agg_df = raw_cloudtrail_df.groupby(["arn", "region", "eventsource", "eventname", "useragent"], as_index=False).agg(
    {"ct": "sum", "errors": "sum"})
agg_df["snapshot_date"] = process_date

TARGET_BUCKET, TARGET_DB, TARGET_TABLE = JOB_ARGS["TARGET_BUCKET"], JOB_ARGS["TARGET_DB"], JOB_ARGS["TARGET_TABLE"]
upload_path = f"s3://{TARGET_BUCKET}/{TARGET_DB}/{TARGET_TABLE}"

if not agg_df.empty:
    LOGGER.info(f"Upload to {upload_path}")
    try:
        response = wr.s3.to_parquet(
            df=agg_df,
            path=upload_path,
            dataset=True,
            database=TARGET_DB,
            table=TARGET_TABLE,
            partition_cols=["snapshot_date"],
            mode="overwrite_partitions",
        )
    except Exception as exc:
        LOGGER.error("Uploading to S3 failed")
        raise exc
    LOGGER.info(f"Wrote {len(agg_df)} rows ({int(agg_df.ct.sum())} events) to {TARGET_DB}.{TARGET_TABLE}, "
                f"partition snapshot_date={process_date}: {len(response['paths'])} file(s)")
else:
    LOGGER.info(f"Dataframe was empty, nothing to upload to {upload_path}")
