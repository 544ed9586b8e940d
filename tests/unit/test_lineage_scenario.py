"""Notebook 08's parts that need no environment: the TICKIT generator, what the DAGs' SQL gives OpenLineage's parser,
the load operator's declared datasets, and the plumbing's one-line errors."""

from __future__ import annotations

import importlib.util
import re
from datetime import date
from pathlib import Path

import openlineage_sql
import pytest

from helpers.errors import WorkbookError
from helpers.samples import tickit

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _dag_module(name: str):
    spec = importlib.util.spec_from_file_location(f"lineage_dag_{name}", DAGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- TICKIT ----------------------------------------------------------------------------------------------------------

def test_tickit_has_every_table_with_its_columns_and_is_the_same_each_time():
    tables = tickit.generate()
    assert list(tables) == list(tickit.COLUMNS) == list(tickit.FILES)
    for table, rows in tables.items():
        assert rows and all(len(row) == len(tickit.COLUMNS[table]) for row in rows), table
    assert tables == tickit.generate()
    assert tables["category"] == tickit.CATEGORIES and len(tables["date"]) == 366


def test_tickit_keys_hold_together():
    tables = tickit.generate()
    ids = {table: {row[0] for row in rows} for table, rows in tables.items()}
    events = {row[0]: row for row in tables["event"]}
    listings = {row[0]: row for row in tables["listing"]}
    assert {row[1] for row in tables["event"]} <= ids["venue"] and {row[2] for row in tables["event"]} <= ids["category"]
    for sale in tables["sales"]:
        listing = listings[sale[1]]
        assert sale[2] == listing[1] and sale[4] == listing[2] and sale[4] in events  # seller and event of the listing
        assert sale[3] != sale[2] and sale[3] in ids["users"] and sale[5] in ids["date"]
        assert sale[6] <= listing[4] and float(sale[7]) == pytest.approx(sale[6] * float(listing[5]))
    assert tables["date"][0][:3] == (tickit.FIRST_DATEID, "2008-01-01", "TU")
    assert {row[1] for row in tables["date"] if row[7]} == {d.isoformat() for d in tickit.HOLIDAYS}
    assert date.fromisoformat(tables["date"][-1][1]) == date(2008, 12, 31)


def test_tickit_files_are_pipe_delimited_with_empty_fields_for_null():
    text = tickit.to_text([(1, "a|b", None, True, False)])
    assert text == '1|"a|b"||t|f\n'
    venues = tickit.to_text(tickit.generate()["venue"]).splitlines()
    assert any(line.endswith("|") for line in venues)  # TICKIT's venues without a seat count


# --- what the DAGs tell OpenLineage ------------------------------------------------------------------------------------

def _lineage(sql: str) -> dict[str, set[tuple[str, str]]]:
    parsed = openlineage_sql.parse([sql], dialect="postgres")
    return {c.descendant.name: {(f"{c2.origin.schema}.{c2.origin.name}", c2.name) for c2 in c.lineage} for c in parsed.column_lineage}


def test_the_star_schema_sql_gives_column_lineage_for_every_target_column():
    dm = _dag_module("rs_staging_to_dm")
    tasks = {task.task_id: task.sql for task in dm.dag.tasks if task.task_id.startswith("insert_")}
    assert set(tasks) == {"insert_fact_sales", "insert_dim_event", "insert_dim_users"}
    fact = _lineage(tasks["insert_fact_sales"])
    columns = re.findall(r"(?:^|,)\s*(\w+)\s", dm.DM_TABLES["fact_sales"])
    assert set(fact) == set(columns)
    assert fact["pricepaid"] == {("staging.sales", "pricepaid")} and fact["day"] == {("staging.date", "day")}
    event = _lineage(tasks["insert_dim_event"])
    assert event["catname"] == {("staging.category", "catname")} and event["venueseats"] == {("staging.venue", "venueseats")}


def test_an_unnamed_expression_gets_a_made_up_column_name():
    blind = _dag_module("lineage_blind_spots")
    ctas = next(task.sql for task in blind.dag.tasks if task.task_id == "unnamed_expression")[1]
    lineage = _lineage(ctas)
    assert set(lineage) == {"eventid", "_0"}  # PostgreSQL names the column `sum`
    assert lineage["_0"] == {("staging.sales", "qtysold"), ("staging.sales", "pricepaid")}


def test_the_load_operator_declares_the_file_and_the_table_as_the_sql_parser_names_them(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://u:p@127.0.0.1:6543/warehouse")
    source = _dag_module("rs_source_to_staging")
    load = next(task for task in source.dag.tasks if task.task_id == "load_sales")
    load.bucket, load.key = "tickit-bucket", "tickit/sales/sales_pipe.txt"  # as rendered
    lineage = load.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("s3://tickit-bucket", "tickit/sales/sales_pipe.txt")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("postgres://127.0.0.1:6543", "warehouse.staging.sales")]
    assert set(source.FILES) == set(tickit.FILES) and source.FILES == tickit.FILES


# --- plumbing --------------------------------------------------------------------------------------------------------

def test_on_aws_missing_redshift_and_marquez_are_one_line_errors(monkeypatch):
    from helpers.chapters.lineage import scenario

    class Aws:
        is_local = False

    monkeypatch.setattr(scenario.cloud, "settings", lambda: Aws())
    with pytest.raises(WorkbookError, match="redshift_connection") as error:
        scenario.warehouse_connection("")
    assert "\n" not in str(error.value)
    with pytest.raises(WorkbookError, match="marquez_url"):
        scenario.lineage_url("")
    connection = scenario.warehouse_connection("redshift://admin:secret@wg.123.us-east-1.redshift-serverless.amazonaws.com:5439/dev")
    assert connection["extra"] == {"redshift": True} and connection["port"] == 5439 and connection["schema"] == "dev"
    assert scenario.lineage_url("http://marquez:5000/") == "http://marquez:5000"
