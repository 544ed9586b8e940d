from __future__ import annotations

import pytest

from helpers.dagtools import dag_figures
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


def test_several_files_are_parsed_in_one_subprocess(monkeypatch):
    runs, run = [], dag_figures.subprocess.run
    monkeypatch.setattr(dag_figures.subprocess, "run", lambda *args, **kwargs: runs.append(args) or run(*args, **kwargs))
    nested, quality = dag_figures.structures("nested_setup_teardown.py", "data_quality_setup_teardown.py")
    assert list(nested) == ["nested_setup_teardown"] and list(quality) == ["data_quality_setup_teardown"]
    assert quality["data_quality_setup_teardown"]["tasks"]["drop_scratch"]["setups"] == ["create_scratch"]
    assert len(runs) == 1


def test_a_pair_line_runs_from_box_to_box_down_to_its_lowest_point():
    curve = dag_figures.pair_curve((0.0, 0.0), (9.0, -1.0), lowest=-2.5, points=31)
    assert curve[0] == (0.0, -0.3) and curve[-1] == (9.0, -1.3)
    assert min(y for _, y in curve) == pytest.approx(-2.5, abs=0.05) and curve[15][0] == pytest.approx(4.5)


class _Api:
    def __init__(self, tasks):
        self.tasks, self.paths = tasks, []

    def call(self, method, path):
        self.paths.append((method, path))
        return {"tasks": self.tasks}


def test_environment_graph_draws_what_the_rest_api_lists_and_refuses_teardowns():
    api = _Api([{"task_id": "wait", "downstream_task_ids": ["crawl"], "trigger_rule": "all_success"},
                {"task_id": "crawl", "downstream_task_ids": [], "trigger_rule": "all_success"}])
    path = dag_figures.environment_graph(api, "pipeline", "test_environment_graph")
    assert api.paths == [("GET", "/dags/pipeline/tasks")] and path.exists() and path.stat().st_size > 1000
    api.tasks.append({"task_id": "drop", "downstream_task_ids": [], "trigger_rule": "all_done_setup_success"})
    with pytest.raises(WorkbookError, match="use graph"):
        dag_figures.environment_graph(api, "pipeline")


def test_a_graph_from_the_rest_api_keeps_the_dependencies():
    tasks = [{"task_id": "greet", "downstream_task_ids": ["summarize"]}, {"task_id": "summarize", "downstream_task_ids": []}]
    graph = dag_figures.from_rest_api(tasks)
    assert graph["tasks"]["greet"]["downstream"] == ["summarize"]
    assert dag_figures.layers(graph["tasks"]) == {"greet": 0, "summarize": 1}
