"""DAG 3 of the Snowflake scenario: Citi Bike trips from zipped files in S3 to the busiest stations, published to SNS.

Unzips the monthly trip zips from the source bucket into the destination bucket (CSV parts only), loads them
into table citibike_tbl through stage mwaa_citibike_stg, types them in view citibike_vw, and finds the top start
and end stations. The result goes to XCom and to the SNS topic in variable `target_sns_arn`.

A re-run gives the same table: the load truncates first (see copy_into_table.sql). The source defaults to the
public Citi Bike bucket (`tripdata`); the workbook triggers it with its own bucket of sample zips.
"""

from __future__ import annotations

import tempfile
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path, PurePosixPath

import pendulum
from airflow.providers.amazon.aws.operators.sns import SnsPublishOperator
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import Param, chain, dag, task

SNOWFLAKE_CONN_ID = "snowflake_accountadmin"  # resolved from the secret airflow/connections/snowflake_accountadmin
# The article's object names (the three DAG files each name what they use; a unit test keeps them in step).
SNOWFLAKE_OBJECTS = {
    "warehouse_name": "dev_wh",
    "database_name": "mwaa_db",
    "schema_name": "mwaa_schema",
    "storage_int_name": "mwaa_citibike_storage_int",
    "stage_name": "mwaa_citibike_stg",
    "stage_prefix": "citibike/",  # the stage's folder in the destination bucket: the unzipped CSV parts, nothing else
    "table_name": "citibike_tbl",
    "view_name": "citibike_vw",
}
# A refused connection fails in seconds ("Could not connect to Snowflake backend"); a Snowflake that answers with
# server errors, or not at all, the connector retries for minutes: the timeout bounds that.
SNOWFLAKE_TASK_ARGS = {"retries": 1, "retry_delay": timedelta(seconds=20), "execution_timeout": timedelta(minutes=4)}


class CorruptArchiveError(ValueError):
    """A source object that is not a readable zip of CSV files."""


def csv_members(archive: zipfile.ZipFile) -> list[str]:
    """The CSV parts of a trip-data zip: no folders, no `__MACOSX/` resource forks, nothing but .csv files."""
    names = []
    for info in archive.infolist():
        path = PurePosixPath(info.filename)
        if info.is_dir() or "__MACOSX" in path.parts or path.name.startswith("._"):
            continue
        if path.suffix.lower() == ".csv":
            names.append(info.filename)
    return names


def _checked_members(path: Path, where: str) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every member and checks its CRC
            if bad:
                raise CorruptArchiveError(f"{where}: member {bad} fails its CRC check")
            members = csv_members(archive)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise CorruptArchiveError(f"{where} is not a readable zip archive ({exc})") from None
    if not members:
        raise CorruptArchiveError(f"{where} holds no CSV file")
    return members


def unzip_tripdata(s3, source_bucket: str, source_prefix: str, dest_bucket: str, dest_prefix: str) -> list[str]:
    """Copy the CSV parts of every zip under s3://source_bucket/source_prefix to s3://dest_bucket/dest_prefix<part name>.

    The article's copy_and_unzip_s3, as a plain function on a boto3 S3 client. Every archive is downloaded and
    checked before anything is written: a corrupt zip raises CorruptArchiveError and the destination stays as it
    was. Returns the keys written.
    """
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=source_bucket, Prefix=source_prefix)
    keys = sorted(obj["Key"] for page in pages for obj in page.get("Contents", []) if obj["Key"].lower().endswith(".zip"))
    if not keys:
        raise FileNotFoundError(f"No .zip files under s3://{source_bucket}/{source_prefix}: upload the trip data first.")
    with tempfile.TemporaryDirectory() as tmp:
        archives = []
        for number, key in enumerate(keys):
            path = Path(tmp) / f"{number}.zip"
            s3.download_file(source_bucket, key, str(path))
            try:
                archives.append((key, path, _checked_members(path, f"s3://{source_bucket}/{key}")))
            except CorruptArchiveError as exc:
                raise CorruptArchiveError(f"{exc}; nothing was written to s3://{dest_bucket}/{dest_prefix}. "
                                          "Replace or remove that file and re-run the task.") from None
        written = []
        for key, path, members in archives:
            with zipfile.ZipFile(path) as archive:
                for member in members:
                    target = f"{dest_prefix}{PurePosixPath(member).name}"
                    with archive.open(member) as body:
                        s3.upload_fileobj(body, dest_bucket, target)
                    print(f"s3://{source_bucket}/{key} [{member}] -> s3://{dest_bucket}/{target}")
                    written.append(target)
    return written


def _sql(name: str) -> SQLExecuteQueryOperator:
    return SQLExecuteQueryOperator(task_id=name, conn_id=SNOWFLAKE_CONN_ID, sql=f"mwaa_snowflake_queries/{name}.sql",
                                   params=SNOWFLAKE_OBJECTS, **SNOWFLAKE_TASK_ARGS)


@dag(
    dag_id="snowflake_citibike_pipeline",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "snowflake", "citibike", "DAG3"],
    params={
        "source_bucket": Param("tripdata", type="string", description="Bucket with the monthly trip zips."),
        "source_prefix": Param("2024", type="string", description="Only zips whose key starts with this."),
        "top_n": Param(10, type="integer", minimum=1, description="How many stations per list."),
    },
    doc_md=__doc__,
)
def snowflake_citibike_pipeline():
    @task(execution_timeout=timedelta(minutes=10))
    def unzip_to_destination(source_bucket: str, source_prefix: str, destination_bucket: str) -> list[str]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        s3 = S3Hook(aws_conn_id="aws_default").get_conn()
        return unzip_tripdata(s3, source_bucket, source_prefix, destination_bucket, SNOWFLAKE_OBJECTS["stage_prefix"])

    @task
    def top_stations(starts: list, ends: list) -> list[dict]:
        """Both lists as records, for XCom readers and the SNS message."""
        return [{"direction": direction, "station_name": name, "rides": int(rides)}
                for direction, rows in (("start", starts), ("end", ends)) for name, rides in rows]

    unzipped = unzip_to_destination("{{ params.source_bucket }}", "{{ params.source_prefix }}", "{{ var.value.destination_bucket }}")
    top_start, top_end = _sql("top_start_stations"), _sql("top_end_stations")
    publish_top_stations = SnsPublishOperator(
        task_id="publish_top_stations",
        aws_conn_id="aws_default",
        target_arn="{{ var.value.target_sns_arn }}",
        subject="Top Citi Bike start and end stations",
        message="{{ ti.xcom_pull(task_ids='top_stations') | tojson }}",
    )
    chain(unzipped, _sql("create_table"), _sql("copy_into_table"), _sql("create_view"), [top_start, top_end])
    top_stations(top_start.output, top_end.output) >> publish_top_stations


snowflake_citibike_pipeline()
