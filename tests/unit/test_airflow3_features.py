"""Notebook 09's parts that need no environment: its sample texts, its DAGs' declarations (the continuous timetable's
one active run, the params' schema, the SQS watcher from a Variable), the API address on AWS."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

from helpers.errors import WorkbookError

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _dag(name: str):
    spec = importlib.util.spec_from_file_location(f"features_dag_{name}", DAGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def test_sample_texts_are_the_same_each_time_with_different_line_counts():
    from helpers.chapters.airflow3_features import scenario

    texts = scenario.sample_texts(7)
    assert texts == scenario.sample_texts(7) and len(texts) == 7
    counts = [len(t.splitlines()) for t in texts.values()]
    assert len(set(counts)) == 7 and sum(counts[:4]) == 32 and sum(counts) == 77


def test_on_aws_the_producer_needs_an_api(monkeypatch):
    from helpers.chapters.airflow3_features import scenario

    class Aws:
        is_local = False

    monkeypatch.setattr(scenario.cloud, "settings", lambda: Aws())
    with pytest.raises(WorkbookError, match="api_url"):
        scenario.records_url("", "weather")
    assert scenario.records_url("https://example.org/records", "weather") == "https://example.org/records"


def test_the_continuous_dag_runs_one_at_a_time():
    dag = _dag("continuous_timetable")
    assert dag.max_active_runs == 1 and type(dag.timetable).__name__ == "ContinuousTimetable"


def test_the_params_schema_refuses_what_the_form_refuses():
    from airflow.sdk.exceptions import ParamValidationError

    params = _dag("params_trigger_form").params
    good = copy.deepcopy(params)
    good.update({"batch_size": 250, "environment": "prod", "regions": ["eu-west-1"]})
    good.validate()
    for key, bad in (("batch_size", 5000), ("environment", "qa"), ("report_date", "tomorrow"), ("regions", []),
                     ("options", {})):
        broken = copy.deepcopy(params)
        with pytest.raises(ParamValidationError, match=key):
            broken[key] = bad
            broken.validate()


def test_the_event_driven_dag_watches_the_queue_its_configuration_option_names(monkeypatch):
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/mwaa-workbook-09-events"
    monkeypatch.setenv("AIRFLOW__WORKBOOK__SQS_EVENT_QUEUE_URL", url)
    dag = _dag("sqs_event_driven")
    condition = dag.timetable.asset_condition
    [asset] = getattr(condition, "objects", [condition])
    [watcher] = asset.watchers
    assert url in repr(vars(watcher.trigger))


def test_without_its_configuration_option_the_event_driven_dag_has_no_watcher(monkeypatch):
    monkeypatch.delenv("AIRFLOW__WORKBOOK__SQS_EVENT_QUEUE_URL", raising=False)
    condition = _dag("sqs_event_driven").timetable.asset_condition
    [asset] = getattr(condition, "objects", [condition])
    assert asset.watchers == []


def test_the_queued_story_reads_the_audit_log_oldest_first_in_seconds():
    from helpers.chapters.airflow3_features import scenario

    class Api:
        def call(self, method, path, query=None, body=None):
            assert (method, path, query["task_id"], query["order_by"]) == ("GET", "/eventLogs", "t", "when")
            return {"event_logs": [
                {"when": "2026-01-01T00:00:07.400Z", "event": "stuck in queued reschedule", "extra": "x"},
                {"when": "2026-01-01T00:00:14.000+00:00", "event": "stuck in queued reschedule", "extra": "x"},
                {"when": "2026-01-01T00:00:21.600Z", "event": "stuck in queued tries exceeded", "extra": "y"}]}

    story = scenario.queued_story(Api(), "d", "r", "t")
    assert list(story.second) == [0, 7, 14] and list(story.event)[-1] == "stuck in queued tries exceeded"


def test_clearing_queued_asset_events_treats_none_queued_as_nothing_to_do():
    from helpers.chapters.airflow3_features import scenario

    class Api:
        def __init__(self, queued: bool):
            self.queued, self.calls = queued, []

        def call(self, method, path, query=None, body=None):
            self.calls.append((method, path))
            if not self.queued:
                raise WorkbookError("Airflow API DELETE ... answered 404: Queue event with dag_id: `d` was not found")

    queued, empty = Api(True), Api(False)
    assert scenario.clear_queued_events(queued, "d") and not scenario.clear_queued_events(empty, "d")
    assert queued.calls == [("DELETE", "/dags/d/assets/queuedEvents")]
