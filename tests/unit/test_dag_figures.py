from __future__ import annotations

import pytest

from helpers import dag_figures
from helpers.errors import WorkbookError


def test_structure_is_what_airflow_parsed_setups_teardowns_and_pairs():
    dag = dag_figures.structure("nested_setup_teardown.py")["nested_setup_teardown"]["tasks"]
    assert {t for t, s in dag.items() if s["setup"]} == {"create_cluster", "create_table", "create_cache"}
    assert dag["delete_cluster"]["teardown"] and dag["delete_cluster"]["setups"] == ["create_cluster"]
    assert dag["drop_table"]["setups"] == ["create_table"] and "query_table" in dag["load_table"]["downstream"]


def test_layers_and_column_order_follow_the_dependencies():
    tasks = {"a": {"downstream": ["b", "c"]}, "b": {"downstream": ["d"]}, "c": {"downstream": []},
             "d": {"downstream": []}, "e": {"downstream": ["d"]}}
    assert dag_figures.layers(tasks) == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 0}
    columns = dag_figures.ordered_columns(tasks)
    assert sorted(columns[0]) == ["a", "e"] and sorted(columns[1]) == ["b", "c"] and columns[2] == ["d"]


def test_graph_is_saved_as_a_figure():
    path = dag_figures.draw({"tasks": {"setup": {"downstream": ["work", "teardown"], "setup": True, "teardown": False},
                                       "work": {"downstream": ["teardown"], "setup": False, "teardown": False},
                                       "teardown": {"downstream": [], "setup": False, "teardown": True,
                                                    "setups": ["setup"]}}}, "t", "test_graph")
    assert path.exists() and path.stat().st_size > 1000


def test_source_marks_the_lines_that_carry_the_lesson():
    shown = dag_figures.source("legislators_glue_pipeline.py", ["deferrable=True"])
    assert shown.marked and all("deferrable=True" in shown.text.splitlines()[n - 1] for n in shown.marked)
    text = repr(shown)
    assert text.startswith("# dags/legislators_glue_pipeline.py") and "> " in text
    assert "deferrable" in shown._repr_html_()


def test_a_mark_not_in_the_file_or_a_missing_file_is_one_line():
    with pytest.raises(WorkbookError, match="has no line with 'nonsense'"):
        dag_figures.source("hello_mwaa.py", ["nonsense"])
    with pytest.raises(WorkbookError, match="No file nope.py"):
        dag_figures.source("nope.py")


def test_a_graph_from_the_rest_api_keeps_the_dependencies():
    tasks = [{"task_id": "greet", "downstream_task_ids": ["summarize"]}, {"task_id": "summarize", "downstream_task_ids": []}]
    graph = dag_figures.from_rest_api(tasks)
    assert graph["tasks"]["greet"]["downstream"] == ["summarize"]
    assert dag_figures.layers(graph["tasks"]) == {"greet": 0, "summarize": 1}
