"""Notebook 08's lineage reader: OpenLineage events folded into runs, and the dataset/job and column graphs built from
them.

tests/unit/fixtures/lineage/star_schema.jsonl holds the events as the Airflow provider 2.20.0's file transport writes
them (one sorted-key JSON RunEvent a line; the provider's own `airflow` facets trimmed to a few keys) for a slice of the
TICKIT star schema on PostgreSQL: `rs_source_to_staging.load_sales` (a COPY the SQL parser cannot read, hence its
extractionError facet, its S3 file and table declared as inlet and outlet; its COMPLETE written before its START; the
parser's column lineage of the other SQL checked with openlineage-sql 1.52), and the DAG `rs_staging_to_dm`
(its own DAG-level START and COMPLETE; `load_dim_date`, whose START has no outputs because the table did not exist yet,
and a hook-lineage QUERY run inside it; `load_dim_event`; `load_fact_sales` failing on try 1 and completing on try 2).
Column lineage as the provider writes it: inputFields without transformations, empty transformationType.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from helpers.chapters.lineage import events, graph
from helpers.errors import WorkbookError

FIXTURE = Path(__file__).parent / "fixtures" / "lineage" / "star_schema.jsonl"
NS = "postgres://127.0.0.1:5432"
STAR_EDGES = {
    ("tickit/sales_tab.txt", "rs_source_to_staging.load_sales"), ("rs_source_to_staging.load_sales", "warehouse.staging.sales"),
    ("warehouse.staging.date", "rs_staging_to_dm.load_dim_date"), ("rs_staging_to_dm.load_dim_date", "warehouse.dm.dim_date"),
    ("warehouse.staging.event", "rs_staging_to_dm.load_dim_event"), ("rs_staging_to_dm.load_dim_event", "warehouse.dm.dim_event"),
    ("warehouse.staging.sales", "rs_staging_to_dm.load_fact_sales"), ("warehouse.dm.dim_date", "rs_staging_to_dm.load_fact_sales"),
    ("warehouse.dm.dim_event", "rs_staging_to_dm.load_fact_sales"), ("rs_staging_to_dm.load_fact_sales", "warehouse.dm.fact_sales"),
}


def fixture_events() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def by_job(runs: list[events.Run]) -> dict[str, list[events.Run]]:
    found: dict[str, list[events.Run]] = {}
    for run in runs:
        found.setdefault(run.job, []).append(run)
    return found


def edge_set(lineage: graph.LineageGraph) -> set[tuple[str, str]]:
    frame = lineage.edges()
    return set(zip(frame.source, frame.target, strict=True))


# --- events and runs ----------------------------------------------------------------------------------------------

def test_events_are_ordered_by_event_time_whatever_order_the_file_has():
    read = events.read(FIXTURE)
    assert len(read) == 14
    assert fixture_events()[0]["eventType"] == "COMPLETE"  # the file has load_sales's end first
    assert [(e["job"]["name"], e["eventType"]) for e in read[:2]] == [("rs_source_to_staging.load_sales", "START"),
                                                                       ("rs_source_to_staging.load_sales", "COMPLETE")]
    times = [events.event_time(e["eventTime"]) for e in read]
    assert times == sorted(times)


def test_a_run_is_folded_from_its_events_and_merges_the_outputs_its_start_lacked():
    runs = by_job(events.fold(FIXTURE))
    assert len(sum(runs.values(), [])) == 7
    (dim_date,) = runs["rs_staging_to_dm.load_dim_date"]
    assert (dim_date.state, dim_date.events, dim_date.job_type, dim_date.parent) == ("COMPLETE", 2, "TASK", "rs_staging_to_dm")
    assert dim_date.duration == pytest.approx(0.867653)
    assert list(dim_date.outputs) == [(NS, "warehouse.dm.dim_date")]  # only its COMPLETE named it
    assert dim_date.outputs[(NS, "warehouse.dm.dim_date")].columns == ["dateid", "caldate", "month", "year"]
    assert "columnLineage" in dim_date.outputs[(NS, "warehouse.dm.dim_date")].facets
    (load_sales,) = runs["rs_source_to_staging.load_sales"]  # START read after COMPLETE in the file
    assert (load_sales.state, load_sales.duration) == ("COMPLETE", pytest.approx(2.355467))
    (dag,) = runs["rs_staging_to_dm"]
    assert (dag.job_type, dag.inputs, dag.outputs, dag.duration) == ("DAG", {}, {}, pytest.approx(11.988777))


def test_a_failed_run_keeps_its_error_and_the_retry_is_a_run_of_its_own():
    runs = by_job(events.fold(FIXTURE))["rs_staging_to_dm.load_fact_sales"]
    assert [run.state for run in runs] == ["FAIL", "COMPLETE"]
    assert runs[0].error == 'duplicate key value violates unique constraint "fact_sales_pkey"'
    assert runs[1].error is None
    table = events.runs_table(events.fold(FIXTURE))
    fact = table[table.job == "rs_staging_to_dm.load_fact_sales"]
    assert list(fact.state) == ["FAIL", "COMPLETE"] and list(fact.seconds.round(2)) == [0.75, 1.11]
    assert fact.inputs.iloc[0] == "warehouse.dm.dim_date, warehouse.dm.dim_event, warehouse.staging.sales"
    summary = events.per_job(events.fold(FIXTURE)).set_index("job").loc["rs_staging_to_dm.load_fact_sales"]
    assert (summary.runs, summary.FAIL, summary.COMPLETE, summary.last_state) == (2, 1, 1, "COMPLETE")


def test_a_start_without_an_end_is_running_and_the_last_terminal_event_wins():
    lines = fixture_events()
    without_end = [e for e in lines if not (e["job"]["name"].endswith("load_dim_event") and e["eventType"] == "COMPLETE")]
    (running,) = by_job(events.fold(without_end))["rs_staging_to_dm.load_dim_event"]
    assert (running.state, running.end, running.duration) == ("RUNNING", None, None)
    assert pd.isna(events.runs_table([running]).seconds.iloc[0])
    failed = next(e for e in lines if e["eventType"] == "FAIL")
    resent = {**failed, "eventType": "COMPLETE", "eventTime": "2026-12-03T09:41:05+00:00",
              "run": {**failed["run"], "facets": {}}}
    first_try = by_job(events.fold([*lines, resent]))["rs_staging_to_dm.load_fact_sales"][0]
    assert (first_try.state, first_try.error, first_try.end.second) == ("COMPLETE", None, 5)


def test_unknown_facets_and_keys_change_nothing():
    plain = events.fold(FIXTURE)
    decorated = []
    for event in fixture_events():
        event["x-receivedBy"] = "gateway"
        event["run"]["facets"]["acme_costCenter"] = {"_producer": "https://acme.example", "centre": 42}
        event["job"]["facets"]["acme_owner"] = {"team": ["data"]}
        for dataset in event.get("inputs", []) + event.get("outputs", []):
            dataset["facets"]["lifecycleStateChange"] = {"lifecycleStateChange": "OVERWRITE"}
            dataset["inputFacets"] = {"acme_rows": {"rows": 3}}
        decorated.append(event)
    pd.testing.assert_frame_equal(events.runs_table(events.fold(decorated)), events.runs_table(plain))
    lineage, with_unknown = graph.LineageGraph(plain), graph.build(decorated)
    assert edge_set(with_unknown) == edge_set(lineage)
    pd.testing.assert_frame_equal(with_unknown.column_edges(), lineage.column_edges())


def test_shuffled_events_give_the_same_runs_and_graph():
    shuffled = list(reversed(fixture_events()))
    pd.testing.assert_frame_equal(events.runs_table(events.fold(shuffled)), events.runs_table(events.fold(FIXTURE)))
    assert edge_set(graph.build(shuffled)) == STAR_EDGES


@pytest.mark.parametrize(("line", "broken", "message"), [
    (3, lambda e: '{"eventType": "START", "eventTime": ', "star_schema.jsonl line 3: not JSON"),
    (4, lambda e: json.dumps({**e, "run": {"facets": {}}}), r"star_schema.jsonl line 4: no run.runId"),
    (5, lambda e: json.dumps({**e, "eventType": "DONE"}), "star_schema.jsonl line 5: eventType 'DONE' is none of"),
    (6, lambda e: json.dumps({**e, "eventTime": "yesterday"}), "star_schema.jsonl line 6: eventTime 'yesterday' is not"),
    (7, lambda e: json.dumps({**e, "job": {"name": "x"}}), r"star_schema.jsonl line 7: no job.namespace and job.name"),
    (8, lambda e: json.dumps({**e, "inputs": {"name": "x"}}), "star_schema.jsonl line 8: inputs is not a list"),
    (9, lambda e: json.dumps({**e, "outputs": [{"name": "warehouse.dm.fact_sales"}]}),
     r"star_schema.jsonl line 9: outputs\[0\] has no namespace and name"),
    (10, lambda e: json.dumps({**e, "run": {**e["run"], "facets": []}}), "star_schema.jsonl line 10: run.facets is not an object"),
])
def test_a_malformed_line_is_a_one_line_error_naming_it(tmp_path, line, broken, message):
    lines = FIXTURE.read_text().splitlines()
    lines[line - 1] = broken(json.loads(lines[line - 1]))
    path = tmp_path / "star_schema.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(WorkbookError, match=message) as raised:
        events.read(path)
    assert "\n" not in str(raised.value)


def test_a_broken_column_lineage_facet_or_a_non_object_is_named_by_position():
    event = next(e for e in fixture_events() if e["job"]["name"].endswith("load_fact_sales"))
    event["outputs"][0]["facets"]["columnLineage"]["fields"]["dateid"] = {"inputFields": [{"name": "warehouse.dm.dim_date"}]}
    with pytest.raises(WorkbookError, match=r"event 2: outputs\[0\].facets.columnLineage.fields.dateid needs inputFields"):
        events.read([fixture_events()[0], event])
    with pytest.raises(WorkbookError, match="event 1: an OpenLineage event is a JSON object, not list"):
        events.read([[1, 2]])
    with pytest.raises(WorkbookError, match="No events file"):
        events.read(FIXTURE.with_name("absent.jsonl"))


def test_json_strings_and_nanosecond_times_are_read():
    line = FIXTURE.read_text().splitlines()[1].replace("09:40:01.102345+00:00", "09:40:01.102345678Z")
    (event,) = events.read([line])
    assert events.event_time(event["eventTime"]).isoformat() == "2026-12-03T09:40:01.102345+00:00"


# --- the graph ----------------------------------------------------------------------------------------------------

def test_the_star_schema_s_graph_has_its_edges_and_no_dag_or_query_job():
    lineage = graph.build(FIXTURE)
    assert edge_set(lineage) == STAR_EDGES
    assert lineage.counts() == {"events": 14, "runs": 7, "datasets": 7, "jobs": 4, "edges": 10, "column_edges": 13}
    kinds = lineage.edges().set_index(["source", "target"]).kind
    assert kinds[("warehouse.dm.dim_date", "rs_staging_to_dm.load_fact_sales")] == "input"
    assert kinds[("rs_staging_to_dm.load_fact_sales", "warehouse.dm.fact_sales")] == "output"
    with_queries = graph.build(FIXTURE, skip_job_types=())
    assert edge_set(with_queries) - STAR_EDGES == {("warehouse.staging.date", "rs_staging_to_dm.load_dim_date.query.1"),
                                                   ("rs_staging_to_dm.load_dim_date.query.1", "warehouse.dm.dim_date")}
    datasets = lineage.datasets().set_index("name")
    assert datasets.loc["warehouse.dm.fact_sales", "columns"] == "salesid, dateid, eventid, qtysold, pricepaid, commission"
    assert datasets.loc["warehouse.dm.dim_date", "read_by"] == "rs_staging_to_dm.load_fact_sales"


def test_a_job_run_twice_adds_runs_not_edges():
    once = fixture_events()
    again = json.loads(json.dumps(once).replace("019ae3c", "029ae3c"))  # the next notebook run: new runIds
    twice = graph.build(once + again)
    assert twice.counts() == {"events": 28, "runs": 14, "datasets": 7, "jobs": 4, "edges": 10, "column_edges": 13}
    assert not twice.edges().duplicated(["source", "target"]).any()
    assert not twice.column_edges().duplicated(["source_dataset", "source_column", "target_dataset", "target_column"]).any()


def test_a_fact_column_goes_back_through_its_dimension_to_staging():
    lineage = graph.build(FIXTURE)
    back = lineage.upstream(("warehouse.dm.fact_sales", "dateid"))
    assert list(zip(back.depth, back.dataset, back.column, back.job, back.via, strict=True)) == [
        (1, "warehouse.dm.dim_date", "dateid", "rs_staging_to_dm.load_fact_sales", "warehouse.dm.fact_sales.dateid"),
        (2, "warehouse.staging.date", "dateid", "rs_staging_to_dm.load_dim_date", "warehouse.dm.dim_date.dateid")]
    assert set(back.transformation) == {""}  # the provider's SQL parser names no transformation
    pd.testing.assert_frame_equal(lineage.upstream("warehouse.dm.fact_sales.dateid"), back)
    assert len(lineage.upstream("warehouse.dm.fact_sales.dateid", depth=1)) == 1
    breaks = lineage.downstream("warehouse.staging.date.dateid")
    assert list(zip(breaks.depth, breaks.dataset, breaks.column, strict=True)) == [
        (1, "warehouse.dm.dim_date", "dateid"), (2, "warehouse.dm.fact_sales", "dateid")]
    assert lineage.downstream("warehouse.staging.date.holiday").empty  # read by no job's column lineage


def test_what_feeds_a_table_and_what_it_feeds_level_by_level():
    lineage = graph.build(FIXTURE)
    feeds = lineage.upstream("warehouse.dm.fact_sales")
    assert list(zip(feeds.depth, feeds.kind, feeds.name, strict=True)) == [
        (1, "job", "rs_staging_to_dm.load_fact_sales"),
        (1, "dataset", "warehouse.dm.dim_date"), (1, "dataset", "warehouse.dm.dim_event"), (1, "dataset", "warehouse.staging.sales"),
        (2, "job", "rs_source_to_staging.load_sales"), (2, "job", "rs_staging_to_dm.load_dim_date"),
        (2, "job", "rs_staging_to_dm.load_dim_event"),
        (2, "dataset", "tickit/sales_tab.txt"), (2, "dataset", "warehouse.staging.date"), (2, "dataset", "warehouse.staging.event")]
    assert set(lineage.upstream("warehouse.dm.fact_sales", depth=1).depth) == {1}
    fed = lineage.downstream("warehouse.staging.date")
    assert list(zip(fed.depth, fed.name, strict=True)) == [
        (1, "rs_staging_to_dm.load_dim_date"), (1, "warehouse.dm.dim_date"),
        (2, "rs_staging_to_dm.load_fact_sales"), (2, "warehouse.dm.fact_sales")]
    assert lineage.upstream(f"{NS}/warehouse.STAGING.sales").name.tolist() == ["rs_source_to_staging.load_sales",
                                                                            "tickit/sales_tab.txt"]


def test_unknown_names_say_what_the_lineage_has():
    lineage = graph.build(FIXTURE)
    with pytest.raises(WorkbookError, match="No dataset or column warehouse.dm.fact_sale in the lineage; did you mean "
                                            "warehouse.dm.fact_sales"):
        lineage.upstream("warehouse.dm.fact_sale")
    with pytest.raises(WorkbookError, match="warehouse.dm.fact_sales has no column 'price' in the lineage; its columns: salesid"):
        lineage.downstream(("warehouse.dm.fact_sales", "price"))


def test_transformations_of_the_spec_are_shown_when_a_producer_names_them():
    """openlineage-spark and dbt name them (spec 1-2-0): DIRECT/AGGREGATION for sum(), INDIRECT/FILTER for a WHERE."""
    def source(field: str, kind: str, subtype: str) -> dict:
        return {"namespace": NS, "name": "warehouse.dm.fact_sales", "field": field,
                "transformations": [{"type": kind, "subtype": subtype, "description": "", "masking": False}]}

    event = {"eventType": "COMPLETE", "eventTime": "2026-12-03T10:00:00Z", "run": {"runId": "r-1"},
             "job": {"namespace": "spark", "name": "monthly_revenue"},
             "inputs": [{"namespace": NS, "name": "warehouse.dm.fact_sales"}],
             "outputs": [{"namespace": NS, "name": "warehouse.mart.revenue", "facets": {"columnLineage": {"fields": {
                 "revenue": {"inputFields": [source("pricepaid", "DIRECT", "AGGREGATION"), source("qtysold", "INDIRECT", "FILTER")]},
                 "sales": {"inputFields": [source("salesid", "DIRECT", "AGGREGATION")], "transformationType": "IDENTITY"}}}}}]}
    edges = graph.build([event]).column_edges().set_index(["source_column", "target_column"]).transformation
    assert edges.to_dict() == {("pricepaid", "revenue"): "DIRECT/AGGREGATION", ("qtysold", "revenue"): "INDIRECT/FILTER",
                               ("salesid", "sales"): "DIRECT/AGGREGATION"}
    older = json.loads(json.dumps(event).replace('"transformations"', '"ignored"'))
    assert set(graph.build([older]).column_edges().transformation) == {"", "IDENTITY"}  # the older field-level form


def test_a_column_reached_by_paths_of_two_lengths_shows_at_the_shorter_with_only_that_path():
    def run(run_id: str, job: str, target: str, sources: list[str]) -> dict:
        fields = {"id": {"inputFields": [{"namespace": NS, "name": s, "field": "id"} for s in sources]}}
        return {"eventType": "COMPLETE", "eventTime": "2026-12-03T10:00:00Z", "run": {"runId": run_id},
                "job": {"namespace": "default", "name": job}, "inputs": [{"namespace": NS, "name": s} for s in sources],
                "outputs": [{"namespace": NS, "name": target, "facets": {"columnLineage": {"fields": fields}}}]}

    lineage = graph.build([run("r-1", "load_dim", "w.dm.dim", ["w.staging.src"]),
                           run("r-2", "load_fact", "w.dm.fact", ["w.dm.dim", "w.staging.src"])])
    back = lineage.upstream("w.dm.fact.id")
    assert list(zip(back.depth, back.dataset, back.job, back.via, strict=True)) == [
        (1, "w.dm.dim", "load_fact", "w.dm.fact.id"), (1, "w.staging.src", "load_fact", "w.dm.fact.id")]


# --- the figure ---------------------------------------------------------------------------------------------------

def test_the_layout_runs_left_to_right_and_sets_a_cycle_s_closing_edge_aside():
    lineage = graph.build(FIXTURE)
    ids, out, back, columns = graph.layout(lineage)
    column = {node: col for col, members in columns.items() for node in members}
    assert back == set() and all(column[s] < column[t] for s, targets in out.items() for t in targets)
    assert column[ids[("dataset", NS, "warehouse.dm.fact_sales")]] == 4
    assert column[ids[("job", "default", "rs_staging_to_dm.load_fact_sales")]] == 3
    upsert = {"eventType": "COMPLETE", "eventTime": "2026-12-03T10:00:00Z", "run": {"runId": "r-2"},
              "job": {"namespace": "default", "name": "rs_staging_to_dm.merge_fact_sales"},
              "inputs": [{"namespace": NS, "name": "warehouse.dm.fact_sales"}, {"namespace": NS, "name": "warehouse.staging.sales"}],
              "outputs": [{"namespace": NS, "name": "warehouse.dm.fact_sales"}]}
    cyclic = graph.build([*fixture_events(), upsert])
    ids, _, back, _ = graph.layout(cyclic)
    assert len(back) == 1 and back <= {(ids[("dataset", NS, "warehouse.dm.fact_sales")],
                                        ids[("job", "default", "rs_staging_to_dm.merge_fact_sales")]),
                                       (ids[("job", "default", "rs_staging_to_dm.merge_fact_sales")],
                                        ids[("dataset", NS, "warehouse.dm.fact_sales")])}
    assert graph.figure(cyclic, name="test_lineage_cycle").stat().st_size > 1000


def test_the_figure_is_saved_and_an_empty_lineage_is_one_line():
    path = graph.figure(graph.build(FIXTURE), "TICKIT star schema", "test_lineage_graph")
    assert path.name == "test_lineage_graph.png" and path.stat().st_size > 5000
    assert graph._label("warehouse.dm.fact_sales") == "warehouse\ndm.fact_sales"
    assert graph._label("tickit/sales_tab.txt") == "tickit/sales_tab.txt"  # a key's dot is its extension
    with pytest.raises(WorkbookError, match="The events name no dataset"):
        graph.figure(graph.build([fixture_events()[2]]))
