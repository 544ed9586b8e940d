"""The local Athena: translation and result formatting on their own, tables read by DuckDB from local files, then
queries through boto3 and awswrangler over Glue tables (JSON partitioned, CSV, Parquet) in the local cloud."""

from __future__ import annotations

import io
import json
import time
from decimal import Decimal

import duckdb
import pytest

from helpers.localcloud.emulators.athena import repair, results, sql, tables

# --- translation ------------------------------------------------------------------------------------------------


def test_tables_are_found_with_the_position_athena_quotes_and_ctes_are_not_tables():
    translated = sql.translate("WITH recent AS (SELECT * FROM db.events)\nSELECT * FROM recent JOIN users u ON 1 = 1",
                               "sales")
    assert [(t.qualified, t.line, t.column) for t in translated.tables] == [
        ("awsdatacatalog.db.events", 1, 31), ("awsdatacatalog.sales.users", 2, 27)]
    assert sql.translate("SELECT * FROM awsdatacatalog.db.t", None).tables[0].column == 15


def test_unnamed_result_columns_are_named_by_position_as_trino_names_them():
    translated = sql.translate("SELECT kind, count(*), sum(x) AS Total, e.y FROM t e GROUP BY kind, e.y", "db")
    relation = duckdb.sql(translated.sql.replace('"db"."t"', "(SELECT 'a' AS kind, 1 AS x, 2 AS y)"))
    assert relation.columns == ["kind", "_col1", "total", "y"]


@pytest.mark.parametrize(("query", "reason"), [
    ("CREATE TABLE t2 AS SELECT * FROM t", "NOT_SUPPORTED: The workbook's local Athena (emulated) runs SELECT queries "
                                           "only, not CREATE TABLE AS SELECT"),
    ("INSERT INTO t VALUES (1)", "NOT_SUPPORTED: The workbook's local Athena (emulated) runs SELECT queries only, not "
                                 "INSERT"),
    ("SELECT * FROM t WHERE", "SYNTAX_ERROR: line 1:"),
    ("SELECT * FROM other.db.t", "CATALOG_NOT_FOUND: line 1:15: Catalog 'other' does not exist"),
])
def test_what_is_not_run_fails_with_athenas_code(query, reason):
    with pytest.raises(sql.QueryFailed) as failed:
        sql.translate(query, "db")
    assert failed.value.reason.startswith(reason)


def test_execution_parameters_replace_the_question_marks_in_order():
    translated = sql.translate("SELECT * FROM t WHERE a = ? AND b = ?", "db", ["'x'", "2"])
    assert translated.sql.endswith("WHERE a = 'x' AND b = 2")
    with pytest.raises(sql.QueryFailed, match="INVALID_PARAMETER_USAGE"):
        sql.translate("SELECT * FROM t WHERE a = ?", "db", ["1", "2"])


def test_duckdb_errors_become_athenas_function_and_column_errors():
    translated = sql.translate("SELECT\n  no_such_fn(kind) FROM t", "db")
    message = "Catalog Error: Scalar Function with name no_such_fn does not exist!\nDid you mean..."
    assert sql.engine_error(message, translated).reason == "FUNCTION_NOT_FOUND: line 2:3: Function 'no_such_fn' not registered"
    translated = sql.translate("SELECT kind,\n       nope FROM t", "db")
    assert sql.engine_error('Binder Error: Referenced column "nope" not found in FROM clause!', translated).reason == (
        "COLUMN_NOT_FOUND: line 2:8: Column 'nope' cannot be resolved or requester is not authorized to access "
        "requested resources")
    translated = sql.translate("SELECT e.nope FROM t e", "db")
    assert sql.engine_error('Binder Error: Table "e" does not have a column named "nope"', translated).reason.startswith(
        "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved")


def test_a_cancelled_run_stays_cancelled_when_its_engine_finishes_later():
    from helpers.localcloud.emulators.athena.runner import Run

    run = Run()
    assert run.finish("CANCELLED", "Query cancelled by user")
    assert not run.finish("SUCCEEDED")
    assert (run.state, run.reason) == ("CANCELLED", "Query cancelled by user")


def test_stopping_interrupts_the_engine(tmp_path, monkeypatch):
    import threading
    from types import SimpleNamespace

    from helpers.localcloud.emulators.athena import runner

    monkeypatch.setitem(runner.STATE, "work_dir", str(tmp_path))
    numbers = "UNNEST(sequence(1, 3000)) AS {0}({0})"
    query = f"SELECT count(*) FROM {numbers.format('a')} CROSS JOIN {numbers.format('b')} CROSS JOIN {numbers.format('c')}"
    execution = SimpleNamespace(id="q1", query=query, context={}, config={}, execution_parameters=None)
    run = runner.Run()
    worker = threading.Thread(target=runner.run_query, args=("123456789012", "us-east-1", execution, run))
    worker.start()
    deadline = time.monotonic() + 10
    while run.connection is None:
        assert time.monotonic() < deadline and worker.is_alive(), "the engine did not start"
        time.sleep(0.01)
    time.sleep(0.2)
    assert run.finish("CANCELLED", "Query cancelled by user")
    run.connection.interrupt()  # what StopQueryExecution does
    worker.join(timeout=5)
    assert not worker.is_alive() and run.state == "CANCELLED" and run.result is None


# --- results ----------------------------------------------------------------------------------------------------


def test_values_print_as_trino_prints_them():
    import datetime as dt

    assert [results.format_value(v) for v in (None, True, 1.5, 1e20, 0.0001, Decimal("12.30"), dt.date(2026, 1, 2),
                                              dt.datetime(2026, 1, 2, 3, 4, 5, 678901), [1, None], {"a": 1})] == [
        None, "true", "1.5", "1.0E20", "1.0E-4", "12.30", "2026-01-02", "2026-01-02 03:04:05.678", "[1, null]", "{a=1}"]
    assert results.athena_type("DECIMAL(18,3)") == ("decimal", 18, 3)
    assert [results.athena_type(t)[0] for t in ("VARCHAR", "BIGINT", "HUGEINT", "DOUBLE", "BOOLEAN", "DATE",
                                                  "TIMESTAMP", "INTEGER[]")] == [
        "varchar", "bigint", "bigint", "double", "boolean", "date", "timestamp", "array"]


def test_csv_quotes_every_value_and_leaves_null_empty():
    result = results.ResultSet(["a", "b"], ["VARCHAR", "BIGINT"], [('say "hi"', 1), ("", None)])
    assert result.csv() == b'"a","b"\n"say ""hi""","1"\n"",\n'


def test_pages_start_with_the_header_row_and_carry_a_next_token():
    result = results.ResultSet(["n"], ["BIGINT"], [(i,) for i in range(5)])
    first = result.page(None, 2)
    assert [r["Data"][0]["VarCharValue"] for r in first["ResultSet"]["Rows"]] == ["n", "0"]
    second = result.page(first["NextToken"], 2)
    last = result.page(second["NextToken"], 2)
    assert [r["Data"][0]["VarCharValue"] for r in second["ResultSet"]["Rows"] + last["ResultSet"]["Rows"]] == [
        "1", "2", "3", "4"]
    assert "NextToken" not in last
    with pytest.raises(ValueError):
        result.page("garbage", 2)


# --- tables read from local files -------------------------------------------------------------------------------


def _table(serde: str, columns: list, keys: list | None = None, **parameters) -> dict:
    return {"Name": "t", "PartitionKeys": [{"Name": n, "Type": t} for n, t in keys or []], "Parameters": parameters,
            "StorageDescriptor": {"Columns": [{"Name": n, "Type": t} for n, t in columns], "Location": "s3://b/t/",
                                  "SerdeInfo": {"SerializationLibrary": serde,
                                                "Parameters": {"field.delim": parameters.pop("delim", ",")}}}}


REF = sql.TableRef("db", "t", 1, 15)


def test_a_partitioned_json_table_reads_registered_partitions_with_their_values(tmp_path):
    files = []
    for day, lines in (("2026-01-01", ['{"id": 1, "Kind": "a"}', '{"id": 2, "Kind": "b", "extra": 1}']),
                       ("2026-01-02", ['{"id": 3}'])):
        path = tmp_path / f"{day}.json"
        path.write_text("\n".join(lines) + "\n")
        files.append(str(path))
    table = _table("org.openx.data.jsonserde.JsonSerDe", [("id", "bigint"), ("kind", "string")], [("dt", "string")])
    partitions = [{"Values": [day], "StorageDescriptor": {"Location": f"s3://b/t/dt={day}/"}}
                  for day in ("2026-01-01", "2026-01-02")]
    plan = tables.layout(table, REF, partitions)
    assert plan.reader == "json" and [p.values for p in plan.parts] == [["2026-01-01"], ["2026-01-02"]]
    for part, path in zip(plan.parts, files, strict=True):
        part.files.append(path)
    # The files say "Kind", the catalog "kind": the JSON SerDe matches keys without regard to case.
    present = {i: {row[0] for row in duckdb.sql(tables.present_columns_sql(plan, part)).fetchall()}
               for i, part in enumerate(plan.parts)}
    assert present[0] == {"id", "Kind", "extra"}
    assert duckdb.sql(tables.view_sql(plan, present) + " ORDER BY id").fetchall() == [
        (1, "a", "2026-01-01"), (2, "b", "2026-01-01"), (3, None, "2026-01-02")]


def test_a_text_table_skips_its_header_and_reads_bad_values_and_backslash_n_as_null(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text('id,name\n1,ada\nx,"grace"\n3,\\N\n')
    plan = tables.layout(_table("org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", [("id", "int"), ("name", "string")],
                                **{"skip.header.line.count": "1"}), REF, [])
    plan.parts[0].files.append(str(path))
    assert duckdb.sql(tables.view_sql(plan)).fetchall() == [(1, "ada"), (None, '"grace"'), (3, None)]


def test_an_opencsv_table_reads_quoted_fields_with_the_separator_inside(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text('"name","city"\n"Lovelace, Ada","London"\n"Hopper","New York"\n')
    table = _table("org.apache.hadoop.hive.serde2.OpenCSVSerde", [("name", "string"), ("city", "string")],
                   **{"skip.header.line.count": "1"})
    plan = tables.layout(table, REF, [])
    assert plan.reader == "opencsv"
    plan.parts[0].files.append(str(path))
    assert duckdb.sql(tables.view_sql(plan)).fetchall() == [("Lovelace, Ada", "London"), ("Hopper", "New York")]


def test_a_parquet_table_matches_columns_by_name_and_a_missing_one_is_null(tmp_path):
    path = tmp_path / "m.parquet"
    duckdb.sql(f"COPY (SELECT 2.5 AS Score, 7 AS user_id) TO '{path}' (FORMAT parquet)")
    plan = tables.layout(_table("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                                [("user_id", "bigint"), ("score", "double"), ("note", "string")]), REF, [])
    plan.parts[0].files.append(str(path))
    present = {row[0] for row in duckdb.sql(tables.present_columns_sql(plan, plan.parts[0])).fetchall()}
    assert present == {"Score", "user_id"}
    assert duckdb.sql(tables.view_sql(plan, {0: present})).fetchall() == [(7, 2.5, None)]


def test_an_empty_table_has_its_columns_and_no_rows():
    plan = tables.layout(_table("org.openx.data.jsonserde.JsonSerDe", [("id", "bigint")], [("dt", "string")]), REF, [])
    relation = duckdb.sql(tables.view_sql(plan))
    assert relation.columns == ["id", "dt"] and relation.fetchall() == []


def test_files_athena_skips_are_not_readable():
    assert [tables.readable(k) for k in ("t/a.json", "t/_SUCCESS", "t/.hidden", "t/dir/")] == [True, False, False, False]


def test_repair_finds_key_value_prefixes_in_the_keys_order_that_the_catalog_lacks():
    keys = ["t/year=2026/month=01/a.json", "t/year=2026/month=01/b.json", "t/year=2026/month=02/_SUCCESS",
            "t/month=03/year=2026/c.json", "t/year=2026/d.json", "t/year=2025/month=12/e.json", "other/year=1/month=1/f"]
    assert repair.missing_partitions("s3://b/t/", ["year", "month"], keys, {("2025", "12")}) == [
        (("2026", "01"), "s3://b/t/year=2026/month=01/"), (("2026", "02"), "s3://b/t/year=2026/month=02/")]
    assert repair.target("MSCK REPAIR TABLE `db`.events;", None).qualified == "awsdatacatalog.db.events"
    assert repair.target("SELECT 1", "db") is None


# --- through the local cloud -------------------------------------------------------------------------------------

BUCKET, DB = "tests-athena", "tests_athena"
EVENTS = {"2026-01-01": [{"user_id": 1, "kind": "view", "amount": 1.5}, {"user_id": 2, "kind": "buy", "amount": 10.0}],
          "2026-01-02": [{"user_id": 1, "kind": "buy", "amount": 20.0}, {"user_id": 1, "kind": "view", "amount": 0.5},
                         {"user_id": 2, "kind": "view", "amount": 2.0}]}


def _storage(location: str, serde: str, columns: list, **serde_parameters) -> dict:
    return {"Columns": [{"Name": n, "Type": t} for n, t in columns], "Location": location,
            "SerdeInfo": {"SerializationLibrary": serde, "Parameters": serde_parameters}}


@pytest.fixture(scope="module")
def athena(module_cloud):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from helpers.aws import cloud

    s3, glue = cloud.client("s3"), cloud.client("glue")
    s3.create_bucket(Bucket=BUCKET)
    for day, rows in EVENTS.items():
        s3.put_object(Bucket=BUCKET, Key=f"events/dt={day}/part-0.json", Body="\n".join(json.dumps(r) for r in rows))
    s3.put_object(Bucket=BUCKET, Key="events/dt=2026-01-01/_SUCCESS", Body=b"")
    # Not registered in the catalog: Athena does not read it until the partition is added.
    s3.put_object(Bucket=BUCKET, Key="events/dt=2026-01-03/part-0.json", Body=json.dumps(EVENTS["2026-01-01"][0]))
    s3.put_object(Bucket=BUCKET, Key="users/users.csv", Body=b"user_id,name\n1,ada\n2,grace\n")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"user_id": pa.array([1, 2], pa.int64()), "score": [0.5, 0.25]}), buffer)
    s3.put_object(Bucket=BUCKET, Key="scores/part-0.parquet", Body=buffer.getvalue())

    glue.create_database(DatabaseInput={"Name": DB})
    json_serde = "org.openx.data.jsonserde.JsonSerDe"
    events = _storage(f"s3://{BUCKET}/events/", json_serde, [("user_id", "bigint"), ("kind", "string"), ("amount", "double")])
    glue.create_table(DatabaseName=DB, TableInput={"Name": "events", "StorageDescriptor": events,
                                                   "PartitionKeys": [{"Name": "dt", "Type": "string"}]})
    for day in EVENTS:
        glue.create_partition(DatabaseName=DB, TableName="events", PartitionInput={
            "Values": [day], "StorageDescriptor": {**events, "Location": f"s3://{BUCKET}/events/dt={day}/"}})
    glue.create_table(DatabaseName=DB, TableInput={"Name": "users", "Parameters": {"skip.header.line.count": "1"},
                                                   "StorageDescriptor": _storage(
        f"s3://{BUCKET}/users/", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
        [("user_id", "bigint"), ("name", "string")], **{"field.delim": ","})})
    glue.create_table(DatabaseName=DB, TableInput={"Name": "scores", "StorageDescriptor": _storage(
        f"s3://{BUCKET}/scores/", "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        [("user_id", "bigint"), ("score", "double"), ("note", "string")])})
    return cloud.client("athena"), s3


def _query(client, query: str, **kwargs) -> tuple[str, dict]:
    kwargs.setdefault("ResultConfiguration", {"OutputLocation": f"s3://{BUCKET}/results/"})
    query_id = client.start_query_execution(QueryString=query, QueryExecutionContext={"Database": DB},
                                            **kwargs)["QueryExecutionId"]
    deadline = time.monotonic() + 20
    while (execution := client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"])["Status"]["State"] \
            in ("QUEUED", "RUNNING"):
        assert time.monotonic() < deadline, "the query did not end"
        time.sleep(0.05)
    return query_id, execution


def _rows(client, query_id: str, **kwargs) -> list[list[str | None]]:
    rows = client.get_query_results(QueryExecutionId=query_id, **kwargs)["ResultSet"]["Rows"]
    return [[d.get("VarCharValue") for d in r["Data"]] for r in rows]


def test_group_by_with_a_where_on_the_partition_column(athena):
    client, _ = athena
    query_id, execution = _query(client, "SELECT kind, count(*) AS n, sum(amount) FROM events "
                                         "WHERE dt = '2026-01-02' GROUP BY kind ORDER BY kind")
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert execution["ResultConfiguration"]["OutputLocation"] == f"s3://{BUCKET}/results/{query_id}.csv"
    assert execution["Statistics"]["DataScannedInBytes"] > 0
    assert _rows(client, query_id) == [["kind", "n", "_col2"], ["buy", "1", "20.0"], ["view", "2", "2.5"]]
    info = client.get_query_results(QueryExecutionId=query_id)["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in info] == [("kind", "varchar"), ("n", "bigint"), ("_col2", "double")]


def test_boolean_date_and_timestamp_columns_have_athenas_types_and_text(athena):
    client, _ = athena
    query_id, _ = _query(client, "SELECT true AS ok, DATE '2026-01-02' AS day, "
                                 "TIMESTAMP '2026-01-02 03:04:05.123' AS at, CAST(NULL AS varchar) AS nothing")
    answer = client.get_query_results(QueryExecutionId=query_id)["ResultSet"]
    assert [c["Type"] for c in answer["ResultSetMetadata"]["ColumnInfo"]] == ["boolean", "date", "timestamp", "varchar"]
    assert answer["Rows"][1]["Data"] == [{"VarCharValue": "true"}, {"VarCharValue": "2026-01-02"},
                                         {"VarCharValue": "2026-01-02 03:04:05.123"}, {}]


def test_integers_divide_as_in_trino(athena):
    client, _ = athena
    query_id, _ = _query(client, "SELECT 7 / 2, -7 / 2, 7 / 2.0")
    assert _rows(client, query_id)[1] == ["3", "-3", "3.5"]


def test_unregistered_partitions_and_underscore_files_are_not_read(athena):
    client, _ = athena
    query_id, _ = _query(client, "SELECT dt, count(*) FROM events GROUP BY dt ORDER BY dt")
    assert _rows(client, query_id)[1:] == [["2026-01-01", "2"], ["2026-01-02", "3"]]


def test_msck_repair_table_registers_the_partitions_found_in_s3(athena):
    from helpers.aws import cloud

    client, _ = athena
    glue = cloud.client("glue")
    table = glue.get_table(DatabaseName=DB, Name="events")["Table"]
    glue.create_table(DatabaseName=DB, TableInput={"Name": "clicks", "StorageDescriptor": table["StorageDescriptor"],
                                                   "PartitionKeys": table["PartitionKeys"]})
    assert _rows(client, _query(client, "SELECT count(*) FROM clicks")[0]) == [["_col0"], ["0"]]
    query_id, execution = _query(client, "MSCK REPAIR TABLE clicks")
    assert (execution["Status"]["State"], execution["StatementType"]) == ("SUCCEEDED", "DDL")
    assert _rows(client, query_id)[1:] == [[f"Repair: Added partition to metastore clicks:dt={day}"]
                                           for day in ("2026-01-01", "2026-01-02", "2026-01-03")]
    assert _rows(client, _query(client, "SELECT count(*) FROM clicks")[0]) == [["_col0"], ["6"]]


def test_a_join_of_a_json_table_and_a_csv_table_then_the_result_csv(athena):
    client, s3 = athena
    query_id, _ = _query(client, f"SELECT u.name, sum(e.amount) AS total FROM {DB}.events e "
                                 "JOIN users u ON e.user_id = u.user_id GROUP BY u.name ORDER BY total DESC")
    assert _rows(client, query_id) == [["name", "total"], ["ada", "22.0"], ["grace", "12.0"]]
    body = s3.get_object(Bucket=BUCKET, Key=f"results/{query_id}.csv")["Body"].read()
    assert body == b'"name","total"\n"ada","22.0"\n"grace","12.0"\n'


def test_a_parquet_table_with_a_column_its_files_lack(athena):
    client, _ = athena
    query_id, _ = _query(client, "SELECT s.user_id, s.score, s.note FROM scores s ORDER BY s.user_id")
    assert _rows(client, query_id) == [["user_id", "score", "note"], ["1", "0.5", None], ["2", "0.25", None]]


def test_results_come_in_pages_with_the_header_first(athena):
    client, _ = athena
    query_id, _ = _query(client, "SELECT amount FROM events ORDER BY amount")
    pages, token = [], None
    while True:
        page = client.get_query_results(QueryExecutionId=query_id, MaxResults=2, **({"NextToken": token} if token else {}))
        pages.append([[d.get("VarCharValue") for d in r["Data"]][0] for r in page["ResultSet"]["Rows"]])
        if not (token := page.get("NextToken")):
            break
    assert pages == [["amount", "0.5"], ["1.5", "2.0"], ["10.0", "20.0"]]


def test_an_unknown_function_fails_as_athena_fails_it(athena):
    client, _ = athena
    query_id, execution = _query(client, "SELECT no_such_fn(kind) FROM events")
    status = execution["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"] == "FUNCTION_NOT_FOUND: line 1:8: Function 'no_such_fn' not registered"
    assert status["AthenaError"]["ErrorCategory"] == 2
    with pytest.raises(client.exceptions.InvalidRequestException, match="FUNCTION_NOT_FOUND"):
        client.get_query_results(QueryExecutionId=query_id)


def test_a_missing_table_or_database(athena):
    client, _ = athena
    _, execution = _query(client, "SELECT * FROM nope")
    assert execution["Status"]["StateChangeReason"] == \
        f"TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.{DB}.nope' does not exist"
    _, execution = _query(client, "SELECT * FROM\n  nodb.t")
    assert execution["Status"]["StateChangeReason"] == "SCHEMA_NOT_FOUND: line 2:3: Schema 'nodb' does not exist"


def test_the_workgroups_output_location_serves_when_the_request_names_none(athena):
    client, s3 = athena
    client.create_work_group(Name="tests-athena-wg", Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/wg-results"}, "EnforceWorkGroupConfiguration": False})
    query_id, execution = _query(client, "SELECT 1 AS one", WorkGroup="tests-athena-wg", ResultConfiguration={})
    assert execution["WorkGroup"] == "tests-athena-wg"
    assert s3.get_object(Bucket=BUCKET, Key=f"wg-results/{query_id}.csv")["Body"].read() == b'"one"\n"1"\n'


def test_an_enforcing_workgroup_overrides_the_requests_location():
    from helpers.localcloud.emulators.athena import output_location

    workgroup = {"Configuration": {"ResultConfiguration": {"OutputLocation": "s3://wg/"}}}
    assert output_location({"OutputLocation": "s3://mine/"}, workgroup) == "s3://mine/"
    workgroup["Configuration"]["EnforceWorkGroupConfiguration"] = True
    assert output_location({"OutputLocation": "s3://mine/"}, workgroup) == "s3://wg/"
    assert output_location(None, {"Configuration": {}}) is None


def test_stop_query_execution_cancels_a_running_query(athena):
    client, _ = athena
    numbers = "UNNEST(sequence(1, 3000)) AS {0}({0})"
    query = f"SELECT count(*) FROM {numbers.format('a')} CROSS JOIN {numbers.format('b')} CROSS JOIN {numbers.format('c')}"
    query_id = client.start_query_execution(QueryString=query, ResultConfiguration={
        "OutputLocation": f"s3://{BUCKET}/results/"})["QueryExecutionId"]
    time.sleep(0.3)
    client.stop_query_execution(QueryExecutionId=query_id)
    status = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
    assert (status["State"], status["StateChangeReason"]) == ("CANCELLED", "Query cancelled by user")
    assert "CompletionDateTime" in status
    with pytest.raises(client.exceptions.InvalidRequestException, match="Current state: CANCELLED"):
        client.get_query_results(QueryExecutionId=query_id)


def test_batch_get_query_execution_answers_known_ids_and_lists_unknown_ones(athena):
    client, _ = athena
    query_id, _ = _query(client, "SELECT 1")
    answer = client.batch_get_query_execution(QueryExecutionIds=[query_id, "no-such-id"])
    assert [e["Status"]["State"] for e in answer["QueryExecutions"]] == ["SUCCEEDED"]
    assert [u["QueryExecutionId"] for u in answer["UnprocessedQueryExecutionIds"]] == ["no-such-id"]


def test_no_output_location_is_refused_at_start(athena):
    client, _ = athena
    with pytest.raises(client.exceptions.InvalidRequestException, match="No output location provided"):
        client.start_query_execution(QueryString="SELECT 1")


def test_awswrangler_reads_a_query_unchanged(athena, module_cloud):
    import awswrangler as wr

    from helpers import localcloud
    from helpers.aws import cloud

    for name, value in localcloud.exports().items():
        module_cloud.patch.setenv(name, value)
    frame = wr.athena.read_sql_query("SELECT e.dt, e.kind, e.amount, u.name FROM events e JOIN users u "
                                     "ON e.user_id = u.user_id WHERE e.dt = '2026-01-01' ORDER BY e.amount",
                                     database=DB, ctas_approach=False, s3_output=f"s3://{BUCKET}/wr/",
                                     boto3_session=cloud.session())
    assert frame.to_dict("records") == [{"dt": "2026-01-01", "kind": "view", "amount": 1.5, "name": "ada"},
                                        {"dt": "2026-01-01", "kind": "buy", "amount": 10.0, "name": "grace"}]
    assert str(frame["amount"].dtype) == "float64"
