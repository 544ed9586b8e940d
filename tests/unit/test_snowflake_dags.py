"""The Snowflake scenario's DAGs: the unzip step against the local cloud's S3, and what their SQL templates render to."""

from __future__ import annotations

import importlib.util
import io
import re
import zipfile
from types import SimpleNamespace

import pytest

from helpers.aws import cloud
from helpers.chapters.snowflake import account as snowflake_account
from helpers.chapters.snowflake import scenario as snowflake_scenario
from helpers.paths import DAGS_DIR
from helpers.samples import citibike as sample_citibike

VARIABLES = {"aws_role_arn": "arn:aws:iam::123456789012:role/snowflake", "destination_bucket": "dest",
             "target_sns_arn": "arn:aws:sns:us-east-1:123456789012:mwaa_snowflake", "sec_key_region": "us-east-1"}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"snowflake_dag_under_test_{name}", DAGS_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dag_modules():
    return {name: _load(name) for name in snowflake_scenario.DAG_FILES}


@pytest.fixture(scope="module")
def pipeline(dag_modules):
    return dag_modules["snowflake_citibike_pipeline"]


@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag

    found = {}
    for name in snowflake_scenario.DAG_FILES.values():
        bag = DagBag(dag_folder=str(DAGS_DIR / name))
        assert bag.import_errors == {}
        found.update(bag.dags)
    return found


# ---- unzip ----

def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def buckets(module_cloud, request):
    """Source bucket `src-<test>` with the sample zips, empty destination `dest-<test>`."""
    s3, suffix = cloud.client("s3"), request.node.name.split("_")[-1]
    src, dest = f"src-{suffix}", f"dest-{suffix}"
    for bucket in (src, dest):
        s3.create_bucket(Bucket=bucket)
    for path in sorted(sample_citibike.FOLDER.glob("*.zip")):
        s3.upload_file(str(path), src, path.name)
    return s3, src, dest


def test_unzip_copies_only_the_csv_parts(pipeline, buckets):
    s3, src, dest = buckets
    # Quirks beyond the sample's (parts, __MACOSX): a folder inside the zip, a non-CSV member, an upper-case suffix.
    s3.put_object(Bucket=src, Key="202403-citibike-tripdata.csv.zip", Body=_zip({
        "202403-citibike-tripdata/": b"", "202403-citibike-tripdata/202403-citibike-tripdata_1.CSV": b"ride_id\nX\n",
        "202403-citibike-tripdata/README.txt": b"not data", "__MACOSX/202403-citibike-tripdata/._202403-citibike-tripdata_1.CSV": b"\0"}))
    s3.put_object(Bucket=src, Key="notes.txt", Body=b"not a zip, not listed")
    written = pipeline.unzip_tripdata(s3, src, "2024", dest, "citibike/")
    expected = [f"citibike/2024{m}-citibike-tripdata_{p}.csv" for m in ("01", "02") for p in (1, 2)]
    assert written == expected + ["citibike/202403-citibike-tripdata_1.CSV"]
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=dest)["Contents"])
    assert listed == sorted(written)
    with zipfile.ZipFile(sample_citibike.FOLDER / sample_citibike.zip_name("202401")) as archive:
        original = archive.read("202401-citibike-tripdata_2.csv")
    assert s3.get_object(Bucket=dest, Key=expected[1])["Body"].read() == original


def test_a_corrupt_zip_fails_before_anything_is_written(pipeline, buckets):
    s3, src, dest = buckets
    good = (sample_citibike.FOLDER / sample_citibike.zip_name("202402")).read_bytes()
    s3.put_object(Bucket=src, Key="202403-citibike-tripdata.csv.zip", Body=good[: len(good) // 2])  # an interrupted upload
    with pytest.raises(pipeline.CorruptArchiveError) as err:
        pipeline.unzip_tripdata(s3, src, "", dest, "citibike/")
    message = str(err.value)
    assert f"s3://{src}/202403-citibike-tripdata.csv.zip is not a readable zip archive" in message
    assert f"nothing was written to s3://{dest}/citibike/" in message and "\n" not in message
    assert s3.list_objects_v2(Bucket=dest).get("KeyCount") == 0  # the two good zips, listed first, were not copied either


def test_no_zip_at_all_says_so(pipeline, buckets):
    s3, src, dest = buckets
    with pytest.raises(FileNotFoundError, match=f"No .zip files under s3://{src}/1999"):
        pipeline.unzip_tripdata(s3, src, "1999", dest, "citibike/")


# ---- SQL ----

def _render(dag, task_id: str) -> str:
    task = dag.get_task(task_id)
    template = dag.get_template_env().from_string(task.sql)  # the DagBag has read the .sql file into `sql`
    text = template.render(params={**dag.params.dump(), **task.params.dump()}, var=SimpleNamespace(value=SimpleNamespace(**VARIABLES)))
    return re.sub(r"\s+", " ", "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("--"))).strip()


def _sql_tasks(dag) -> list[str]:
    return [t.task_id for t in dag.tasks if t.task_type == "SQLExecuteQueryOperator"]


def test_every_sql_task_renders_with_the_variables(dags):
    files = {p.read_text(): p.name for p in snowflake_scenario.QUERIES.glob("*.sql")}
    used = set()
    for dag in dags.values():
        for task_id in _sql_tasks(dag):
            assert dag.get_task(task_id).sql in files, f"{dag.dag_id}.{task_id} does not use a file of {snowflake_scenario.QUERIES.name}/"
            assert "{{" not in _render(dag, task_id) and "{%" not in _render(dag, task_id)
            used.add(files[dag.get_task(task_id).sql])
    assert used == set(files.values())  # no file unused


def test_setup_and_load_statements(dags):
    setup = dags["snowflake_initial_setup"]
    assert _render(setup, "create_storage_int") == (
        "CREATE STORAGE INTEGRATION IF NOT EXISTS mwaa_citibike_storage_int TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = 'S3' "
        "ENABLED = TRUE STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/snowflake' STORAGE_ALLOWED_LOCATIONS = ('s3://dest/');")
    assert _render(setup, "create_stage") == (
        "CREATE OR REPLACE STAGE mwaa_db.mwaa_schema.mwaa_citibike_stg URL = 's3://dest/citibike/' "
        "STORAGE_INTEGRATION = mwaa_citibike_storage_int FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1 FIELD_OPTIONALLY_ENCLOSED_BY = '\"');")
    assert _render(setup, "describe_storage_int") == "DESC INTEGRATION mwaa_citibike_storage_int;"
    pipeline = dags["snowflake_citibike_pipeline"]
    assert _render(pipeline, "copy_into_table") == (
        "TRUNCATE TABLE mwaa_db.mwaa_schema.citibike_tbl; COPY INTO mwaa_db.mwaa_schema.citibike_tbl "
        "FROM @mwaa_db.mwaa_schema.mwaa_citibike_stg FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1 FIELD_OPTIONALLY_ENCLOSED_BY = '\"') "
        "FORCE = TRUE;")
    assert _render(pipeline, "top_end_stations") == (
        "SELECT end_station_name AS station_name, COUNT(*) AS rides FROM mwaa_db.mwaa_schema.citibike_vw "
        "WHERE end_station_name IS NOT NULL GROUP BY end_station_name ORDER BY rides DESC, station_name LIMIT 10;")


def test_the_dags_and_the_scenario_name_the_same_objects(dag_modules):
    setup, pipeline = dag_modules["snowflake_initial_setup"], dag_modules["snowflake_citibike_pipeline"]
    assert setup.SNOWFLAKE_OBJECTS == pipeline.SNOWFLAKE_OBJECTS
    assert {m.SNOWFLAKE_CONN_ID for m in dag_modules.values()} == {snowflake_account.CONN_ID}
    names = setup.SNOWFLAKE_OBJECTS
    assert (names["database_name"], names["warehouse_name"], names["storage_int_name"]) == (
        snowflake_account.DATABASE, snowflake_account.WAREHOUSE, snowflake_account.INTEGRATION)
    assert names["schema_name"] == snowflake_account.SCHEMA
