"""The local Athena reads CloudTrail log files: the converter on its own (one gzipped `{"Records": [...]}` file to JSON
lines shaped to the table's columns), then CloudTrail tables in the local cloud queried through boto3 and awswrangler,
with answers computed here from the records."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter

import duckdb
import pytest

from helpers.localcloud.emulators.athena import cloudtrail, sql, tables

ACCOUNT = "123456789012"
# The column list of the CloudTrail SerDe's table in Athena's docs (and the post's table), Glue's lower-case names.
_IDENTITY = ("struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,accesskeyid:string,"
             "username:string,sessioncontext:struct<attributes:struct<mfaauthenticated:string,creationdate:string>,"
             "sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>>>")
COLUMNS = [("eventversion", "string"), ("useridentity", _IDENTITY), ("eventtime", "string"), ("eventsource", "string"),
           ("eventname", "string"), ("awsregion", "string"), ("sourceipaddress", "string"), ("useragent", "string"),
           ("errorcode", "string"), ("errormessage", "string"), ("requestparameters", "string"),
           ("responseelements", "string"), ("additionaleventdata", "string"), ("requestid", "string"),
           ("eventid", "string"), ("resources", "array<struct<arn:string,accountid:string,type:string>>"),
           ("eventtype", "string"), ("apiversion", "string"), ("readonly", "string"),
           ("recipientaccountid", "string"), ("serviceeventdetails", "string"), ("sharedeventid", "string"),
           ("vpcendpointid", "string")]
ROLE = f"arn:aws:sts::{ACCOUNT}:assumed-role/etl/session"
ADMIN = f"arn:aws:iam::{ACCOUNT}:user/admin"


def event(number: int, name: str, arn: str, region: str, bucket: str | None = None, error: str | None = None) -> dict:
    """A record as CloudTrail writes it (camelCase keys; `requestParameters` an object, or null)."""
    record = {
        "eventVersion": "1.08", "eventTime": f"2026-01-01T00:{number:02d}:00Z", "eventSource": "s3.amazonaws.com",
        "eventName": name, "awsRegion": region, "sourceIPAddress": "203.0.113.10", "userAgent": "[Boto3/1.35]",
        "userIdentity": {"type": "AssumedRole" if "assumed-role" in arn else "IAMUser", "principalId": "AIDA:x",
                         "arn": arn, "accountId": ACCOUNT, "accessKeyId": "ASIAEXAMPLE",
                         "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/etl",
                                                              "userName": "etl"},
                                            "attributes": {"creationDate": "2026-01-01T00:00:00Z",
                                                           "mfaAuthenticated": "false"}}},
        "requestParameters": {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com"} if bucket else None,
        "responseElements": None, "requestID": f"R{number}", "eventID": f"e-{number}", "readOnly": name.startswith(
            ("Get", "List", "Head")),
        "resources": [{"ARN": f"arn:aws:s3:::{bucket}", "accountId": ACCOUNT, "type": "AWS::S3::Bucket"}] if bucket
        else [],
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT}
    if error:
        record["errorCode"], record["errorMessage"] = error, "Access Denied"
    return record


# Two days in two regions, as CloudTrail delivers them: one gzipped file of records each.
FILES = {
    ("us-east-1", "2026-01-01"): [event(1, "GetObject", ROLE, "us-east-1", "raw"),
                                  event(2, "PutObject", ROLE, "us-east-1", "curated"),
                                  event(3, "GetObject", ADMIN, "us-east-1", "raw", error="AccessDenied"),
                                  event(4, "ListBuckets", ADMIN, "us-east-1"),
                                  event(5, "GetObject", ROLE, "us-east-1", "raw")],
    ("eu-west-1", "2026-01-02"): [event(6, "GetObject", ADMIN, "eu-west-1", "logs"),
                                  event(7, "DeleteObject", ROLE, "eu-west-1", "logs"),
                                  event(8, "ListBuckets", ROLE, "eu-west-1")],
}


def log_file(records: list[dict]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode())


def rows_of(data: bytes, columns=COLUMNS) -> list[dict]:
    return [json.loads(line) for line in cloudtrail.to_json_lines(data, columns, "s3://b/k.json.gz").splitlines()]


# --- the converter ------------------------------------------------------------------------------------------------


def test_every_record_is_a_row_with_keys_matched_to_columns_without_regard_to_case_at_every_level():
    rows = rows_of(log_file(FILES[("us-east-1", "2026-01-01")]))
    assert [r["eventid"] for r in rows] == ["e-1", "e-2", "e-3", "e-4", "e-5"]
    assert list(rows[0]) == [name for name, _ in COLUMNS]  # exactly the columns: managementEvent is not one
    identity = rows[0]["useridentity"]
    assert (identity["arn"], identity["accountid"], identity["invokedby"]) == (ROLE, ACCOUNT, None)
    assert identity["sessioncontext"]["sessionissuer"]["username"] == "etl"
    assert identity["sessioncontext"]["attributes"] == {"mfaauthenticated": "false",
                                                        "creationdate": "2026-01-01T00:00:00Z"}
    assert rows[0]["resources"] == [{"arn": "arn:aws:s3:::raw", "accountid": ACCOUNT, "type": "AWS::S3::Bucket"}]
    assert (rows[0]["sourceipaddress"], rows[0]["requestid"]) == ("203.0.113.10", "R1")


def test_string_columns_hold_objects_as_json_text_and_bools_as_words_and_missing_fields_are_null():
    first, put, denied, listing, _ = rows_of(log_file(FILES[("us-east-1", "2026-01-01")]))
    assert first["requestparameters"] == '{"bucketName":"raw","Host":"raw.s3.amazonaws.com"}'
    assert (first["readonly"], put["readonly"]) == ("true", "false")
    assert (first["errorcode"], first["vpcendpointid"], first["responseelements"]) == (None, None, None)
    assert (denied["errorcode"], denied["errormessage"]) == ("AccessDenied", "Access Denied")
    assert (listing["requestparameters"], listing["resources"]) == (None, [])
    numbers = rows_of(json.dumps({"Records": [{"additionalEventData": {"bytes": 5}, "apiVersion": 2}]}).encode())
    assert (numbers[0]["additionaleventdata"], numbers[0]["apiversion"]) == ('{"bytes":5}', "2")


def test_struct_field_names_come_from_the_type_and_an_object_where_a_scalar_is_wanted_is_null():
    data = json.dumps({"Records": [{"Who": {"UserName": "ada", "Tags": ["a"]}, "n": {"x": 1}, "m": {"K": True}},
                                   {}]}).encode()  # not gzipped: read too
    columns = [("who", "struct<`userName`:string,tags:array<string>>"), ("n", "bigint"), ("m", "map<string,boolean>")]
    assert rows_of(data, columns) == [{"who": {"userName": "ada", "tags": ["a"]}, "n": None, "m": {"K": True}},
                                      {"who": None, "n": None, "m": None}]
    assert cloudtrail.to_json_lines(log_file([]), COLUMNS, "s3://b/k") == b""
    assert cloudtrail.parse_type("decimal(10, 2)").kind == "decimal"
    with pytest.raises(sql.QueryFailed, match="NOT_SUPPORTED: Unsupported Hive type"):
        cloudtrail.to_json_lines(log_file([]), [("x", "struct<a string>")], "s3://b/k")


@pytest.mark.parametrize(("body", "detail"), [
    (b"not json at all", "not a JSON document"),
    (b"\x1f\x8b\x08\x00garbage", "not a valid gzip file"),
    (gzip.compress(b'{"eventName": "GetObject"}\n{"eventName": "PutObject"}\n'), "not a JSON document"),
    (gzip.compress(b'{"eventName": "GetObject"}'), 'expected one JSON object {"Records"'),
    (json.dumps({"Records": [1, 2]}).encode(), 'expected one JSON object {"Records"'),
])
def test_a_file_that_is_not_cloudtrail_json_fails_with_hive_cursor_error_naming_it(body, detail):
    with pytest.raises(sql.QueryFailed) as failed:
        cloudtrail.to_json_lines(body, COLUMNS, "s3://logs/AWSLogs/x.json.gz")
    assert failed.value.reason.startswith(
        f"HIVE_CURSOR_ERROR: Error reading CloudTrail log file s3://logs/AWSLogs/x.json.gz: {detail}")


def _glue_table(serde: str, input_format: str) -> dict:
    return {"Name": "ct", "PartitionKeys": [{"Name": "region", "Type": "string"}],
            "StorageDescriptor": {"Columns": [{"Name": n, "Type": t} for n, t in COLUMNS], "Location": "s3://b/ct/",
                                  "InputFormat": input_format, "SerdeInfo": {"SerializationLibrary": serde}}}


@pytest.mark.parametrize(("serde", "input_format", "reader"), [
    ("com.amazon.emr.hive.serde.CloudTrailSerde", "com.amazon.emr.cloudtrail.CloudTrailInputFormat", "cloudtrail"),
    ("org.apache.hive.hcatalog.data.JsonSerDe", "com.amazon.emr.cloudtrail.CloudTrailInputFormat", "cloudtrail"),
    ("org.apache.hive.hcatalog.data.JsonSerDe", "org.apache.hadoop.mapred.TextInputFormat", "json"),
])
def test_either_cloudtrail_serde_or_input_format_makes_a_cloudtrail_table(serde, input_format, reader):
    assert tables.layout(_glue_table(serde, input_format), sql.TableRef("db", "ct", 1, 15), []).reader == reader


def test_duckdb_reads_the_converted_file_with_the_columns_types(tmp_path):
    plan = tables.layout(_glue_table("com.amazon.emr.hive.serde.CloudTrailSerde", ""), sql.TableRef("db", "ct", 1, 15),
                         [{"Values": ["us-east-1"], "StorageDescriptor": {"Location": "s3://b/ct/region=us-east-1/"}}])
    path = tmp_path / "00000_k.jsonl"
    path.write_bytes(cloudtrail.to_json_lines(log_file(FILES[("us-east-1", "2026-01-01")]), plan.columns, "s3://b/k"))
    plan.parts[0].files.append(str(path))
    assert tables.present_columns_sql(plan, plan.parts[0]) is None
    view = tables.view_sql(plan)
    found = duckdb.sql(f"SELECT useridentity.sessioncontext.sessionissuer.username, resources[1].arn, readonly, "
                       f"region FROM ({view}) WHERE eventid = 'e-1'").fetchall()
    assert found == [("etl", "arn:aws:s3:::raw", "true", "us-east-1")]


# --- through the local cloud -------------------------------------------------------------------------------------

BUCKET, DB = "tests-athena-cloudtrail", "tests_cloudtrail"
PREFIX = f"AWSLogs/{ACCOUNT}/CloudTrail"


def _create_table(glue, name: str, serde: str, location: str) -> None:
    glue.create_table(DatabaseName=DB, TableInput={
        "Name": name, "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": [{"Name": "region", "Type": "string"}, {"Name": "snapshot_date", "Type": "string"}],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in COLUMNS], "Location": location,
            "InputFormat": "com.amazon.emr.cloudtrail.CloudTrailInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": serde, "Parameters": {"serialization.format": "1"}}}})


@pytest.fixture(scope="module")
def athena(module_cloud):
    from helpers.aws import cloud

    s3, glue = cloud.client("s3"), cloud.client("glue")
    s3.create_bucket(Bucket=BUCKET)
    for (region, day), records in FILES.items():
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/region={region}/snapshot_date={day}/"
                                         f"{ACCOUNT}_CloudTrail_{region}_{day.replace('-', '')}T0000Z_abc.json.gz",
                      Body=log_file(records))
    # A file that is not CloudTrail's, under a table of its own.
    s3.put_object(Bucket=BUCKET, Key="broken/region=us-east-1/snapshot_date=2026-01-01/events.json.gz",
                  Body=gzip.compress(b'{"eventName": "GetObject"}\n'))
    glue.create_database(DatabaseInput={"Name": DB})
    _create_table(glue, "cloudtrail_logs", "com.amazon.emr.hive.serde.CloudTrailSerde", f"s3://{BUCKET}/{PREFIX}/")
    _create_table(glue, "cloudtrail_hive", "org.apache.hive.hcatalog.data.JsonSerDe", f"s3://{BUCKET}/{PREFIX}/")
    _create_table(glue, "broken", "com.amazon.emr.hive.serde.CloudTrailSerde", f"s3://{BUCKET}/broken/")
    return cloud.client("athena")


def _query(client, query: str) -> tuple[str, dict]:
    query_id = client.start_query_execution(QueryString=query, QueryExecutionContext={"Database": DB}, ResultConfiguration={
        "OutputLocation": f"s3://{BUCKET}/results/"})["QueryExecutionId"]
    deadline = time.monotonic() + 20
    while (execution := client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"])["Status"]["State"] \
            in ("QUEUED", "RUNNING"):
        assert time.monotonic() < deadline, "the query did not end"
        time.sleep(0.05)
    return query_id, execution


def _rows(client, query_id: str) -> list[list[str | None]]:
    rows = client.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
    return [[d.get("VarCharValue") for d in r["Data"]] for r in rows]


def test_msck_repair_then_a_partition_where_and_a_group_by_on_a_struct_field(athena):
    client = athena
    query_id, execution = _query(client, "MSCK REPAIR TABLE cloudtrail_logs")
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert _rows(client, query_id)[1:] == [
        ["Repair: Added partition to metastore cloudtrail_logs:region=eu-west-1/snapshot_date=2026-01-02"],
        ["Repair: Added partition to metastore cloudtrail_logs:region=us-east-1/snapshot_date=2026-01-01"]]
    query_id, execution = _query(client, "SELECT useridentity.arn, count(*) AS events FROM cloudtrail_logs "
                                         "WHERE snapshot_date = '2026-01-01' GROUP BY useridentity.arn ORDER BY 1")
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"].get("StateChangeReason")
    expected = Counter(r["userIdentity"]["arn"] for r in FILES[("us-east-1", "2026-01-01")])
    assert _rows(client, query_id) == [["arn", "events"]] + [[arn, str(n)] for arn, n in sorted(expected.items())]
    query_id, _ = _query(client, "SELECT region, count(*), count_if(readonly = 'true'), count(errorcode) "
                                 "FROM cloudtrail_logs GROUP BY region ORDER BY region")
    expected = [[region, str(len(records)), str(sum(r["readOnly"] for r in records)),
                 str(sum("errorCode" in r for r in records))] for (region, _), records in sorted(FILES.items())]
    assert _rows(client, query_id)[1:] == expected


def test_awswrangler_reads_json_extract_scalar_of_requestparameters(athena, module_cloud):
    import awswrangler as wr

    from helpers import localcloud
    from helpers.aws import cloud

    for name, value in localcloud.exports().items():
        module_cloud.patch.setenv(name, value)
    # awswrangler sends MSCK REPAIR TABLE `cloudtrail_hive`; with the database backquoted in the context.
    assert wr.athena.repair_table("cloudtrail_hive", database=DB, s3_output=f"s3://{BUCKET}/wr/",
                                  boto3_session=cloud.session()) == "SUCCEEDED"
    frame = wr.athena.read_sql_query(
        "SELECT json_extract_scalar(requestparameters, '$.bucketName') AS bucket, eventname, count(*) AS events "
        "FROM cloudtrail_hive WHERE requestparameters IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
        database=DB, ctas_approach=False, s3_output=f"s3://{BUCKET}/wr/", boto3_session=cloud.session())
    expected = Counter((r["requestParameters"]["bucketName"], r["eventName"]) for records in FILES.values()
                       for r in records if r["requestParameters"])
    assert frame.to_dict("records") == [{"bucket": bucket, "eventname": name, "events": n}
                                        for (bucket, name), n in sorted(expected.items())]


def test_a_file_that_is_not_cloudtrail_json_fails_the_query_naming_it(athena):
    client = athena
    assert _query(client, "MSCK REPAIR TABLE broken")[1]["Status"]["State"] == "SUCCEEDED"
    _, execution = _query(client, "SELECT count(*) FROM broken")
    status = execution["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"].startswith(
        f"HIVE_CURSOR_ERROR: Error reading CloudTrail log file s3://{BUCKET}/broken/region=us-east-1/"
        "snapshot_date=2026-01-01/events.json.gz: expected one JSON object")
    assert status["AthenaError"]["ErrorCategory"] == 2
