"""The local Snowflake: fakesnow over TLS, reached by the unmodified connector, reading S3 stages from the local cloud."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import certifi
import pytest
import snowflake.connector

from helpers import localcloud, procs
from helpers.aws import cloud
from helpers.errors import WorkbookError
from helpers.localcloud import snowflake as local_snowflake
from helpers.localcloud.snowflake_server import EMULATED_IAM_USER_ARN

CSV = (b'"ride_id","station_id","started_at"\n'
       b'"A1","6140.10","2024-01-05 08:01:02.123"\n'
       b'"A2","","2024-01-05 08:01:03.456"\n')


@pytest.fixture(scope="module")
def cloud_with_snowflake(module_cloud):
    module_cloud.patch.setenv("REQUESTS_CA_BUNDLE", localcloud.exports()["REQUESTS_CA_BUNDLE"])  # what the connector trusts
    return module_cloud.records["snowflake"]


def _connect(record, timeout: int = 30):
    return snowflake.connector.connect(user="learner", password="not-checked", account="workbook", host="127.0.0.1",
                                       port=record.port, database="mwaa_db", schema="mwaa_schema", login_timeout=timeout,
                                       network_timeout=timeout)


def test_runs_over_tls_with_the_ca_bundle(cloud_with_snowflake):
    record = cloud_with_snowflake
    assert record.url == f"https://127.0.0.1:{record.port}"
    env = localcloud.exports()
    assert (env["WORKBOOK_SNOWFLAKE_HOST"], env["WORKBOOK_SNOWFLAKE_URL"]) == ("127.0.0.1", record.url)
    assert "WORKBOOK_SNOWFLAKE_PORT" not in env  # that one fixes the port of the next start
    bundle = Path(env["WORKBOOK_SNOWFLAKE_CA_BUNDLE"])
    ours = (bundle.parent / "cert.pem").read_text()
    # The usual CAs plus ours: REQUESTS_CA_BUNDLE can point at it and real TLS keeps working.
    assert bundle.read_text().endswith(ours) and bundle.read_text().count("BEGIN CERTIFICATE") > 100
    with socket.create_connection(("127.0.0.1", record.port), timeout=5) as raw, pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context(cafile=certifi.where()).wrap_socket(raw, server_hostname="127.0.0.1")
    assert "fakesnow" in next(r["emulated_by"] for r in localcloud.status() if r["service"] == "snowflake")
    with _connect(record) as conn:
        assert conn.cursor().execute("SELECT 1 + 1").fetchone() == (2,)
        # A warehouse has no local meaning: a no-op rule makes the statement succeed.
        assert conn.cursor().execute("CREATE WAREHOUSE IF NOT EXISTS dev_wh WITH WAREHOUSE_SIZE = 'XSMALL'").fetchone() == (
            "Statement executed successfully.",)


def test_copy_into_from_an_s3_stage_of_the_local_cloud(cloud_with_snowflake):
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="stage-bucket")
    s3.put_object(Bucket="stage-bucket", Key="trips/part_1.csv", Body=CSV)
    file_format = "FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1 FIELD_OPTIONALLY_ENCLOSED_BY = '\"')"
    with _connect(cloud_with_snowflake) as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE OR REPLACE STAGE trips_stg URL = 's3://stage-bucket/trips/' {file_format}")
        cur.execute("CREATE OR REPLACE TABLE trips (ride_id TEXT, station_id TEXT, started_at TEXT)")
        loaded = cur.execute(f"COPY INTO trips FROM @trips_stg {file_format}").fetchall()
        assert [(row[0], row[1], row[3]) for row in loaded] == [("s3://stage-bucket/trips/part_1.csv", "LOADED", 2)]
        # Fields arrive as text, as on Snowflake: the station id keeps its trailing zero.
        assert cur.execute("SELECT * FROM trips ORDER BY ride_id").fetchall() == [
            ("A1", "6140.10", "2024-01-05 08:01:02.123"), ("A2", None, "2024-01-05 08:01:03.456")]
        # The stage's root written as CopyFromExternalStageToSnowflakeOperator writes it, `@stage/`, is the same stage.
        again = cur.execute(f"COPY INTO trips\n FROM  @trips_stg/\n {file_format}\n FORCE = TRUE").fetchall()
        assert [(row[1], row[3]) for row in again] == [("LOADED", 2)]


def test_storage_integration_is_emulated_and_labelled(cloud_with_snowflake):
    with _connect(cloud_with_snowflake) as conn:
        cur = conn.cursor()
        cur.execute("CREATE STORAGE INTEGRATION IF NOT EXISTS s3_int TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = 'S3' ENABLED = TRUE "
                    "STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/sf' STORAGE_ALLOWED_LOCATIONS = ('s3://stage-bucket/')")
        described = {row[0]: row[2] for row in cur.execute("DESC INTEGRATION s3_int").fetchall()}
        assert described["STORAGE_AWS_IAM_USER_ARN"] == EMULATED_IAM_USER_ARN
        assert described["STORAGE_AWS_EXTERNAL_ID"].startswith("WORKBOOK_EMULATED_")
        assert described["STORAGE_AWS_ROLE_ARN"] == "arn:aws:iam::123456789012:role/sf"
        cur.execute("DROP INTEGRATION s3_int")
        with pytest.raises(snowflake.connector.ProgrammingError, match="does not exist"):
            cur.execute("DESC INTEGRATION s3_int")
        started = time.monotonic()
        with pytest.raises(snowflake.connector.ProgrammingError, match="local Snowflake"):
            cur.execute("CREATE FILE FORMAT ff TYPE = CSV")  # fakesnow fails on it: an error, not minutes of retries
        assert time.monotonic() - started < 5


def test_snowflake_down_fails_fast_with_a_timeout_set(cloud_with_snowflake):
    # Last in this module: it stops the module's Snowflake.
    record = cloud_with_snowflake
    procs.stop(record.pid, record.create_time)
    started = time.monotonic()
    with pytest.raises(snowflake.connector.OperationalError, match="Could not connect to Snowflake backend"):
        _connect(record, timeout=2)
    assert time.monotonic() - started < 15


@pytest.mark.localcloud  # up() gets as far as starting a service
def test_a_taken_fixed_port_is_one_line_error(fresh_state, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        monkeypatch.setenv("WORKBOOK_SNOWFLAKE_PORT", str(sock.getsockname()[1]))
        with pytest.raises(WorkbookError, match=r"WORKBOOK_SNOWFLAKE_PORT.*already taken") as err:
            localcloud.up(quiet=True)
    assert "\n" not in str(err.value)


def test_worker_trust_env_points_at_the_bundle_once_made(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_STATE_DIR", str(tmp_path))
    assert local_snowflake.trust_env() == {}
    cert, key, bundle = local_snowflake.ensure_certificate(tmp_path / "localcloud")
    assert local_snowflake.trust_env() == {"REQUESTS_CA_BUNDLE": str(bundle), "SSL_CERT_FILE": str(bundle)}
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert local_snowflake.ensure_certificate(tmp_path / "localcloud")[0].read_bytes() == cert.read_bytes()  # made once


def test_a_new_aws_service_restarts_snowflake_with_its_endpoint(local_cloud):
    snowflake = localcloud.running()["snowflake"]
    procs.stop(local_cloud.pid, local_cloud.create_time)  # the AWS service dies behind the workbook's back
    records = localcloud.up(quiet=True)
    assert records["aws"].pid != local_cloud.pid
    assert records["snowflake"].pid != snowflake.pid  # restarted: its S3 stages must use the new AWS endpoint
    assert not procs.is_same_process(snowflake.pid, snowflake.create_time)
