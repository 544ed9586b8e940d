"""The Snowflake scenario's helpers that need no MWAA environment: the secret's form, the SNS inbox, Snowflake clean-up."""

from __future__ import annotations

import json
import os

import pytest

from helpers import localcloud
from helpers.aws import cloud
from helpers.chapters.setup_teardown.secrets_cache import put_secret
from helpers.chapters.snowflake import account, scenario

ARTICLE_SECRET = {"host": "xy12345.snowflakecomputing.com", "account": "xy12345", "user": "learner", "password": "pw-123456",
                  "schema": "mwaa_schema", "database": "mwaa_db", "role": "accountadmin", "warehouse": "dev_wh"}


def _as_airflow_reads_it(value: dict):
    """The connection Airflow's Secrets Manager backend makes of a secret (the real backend, against the local cloud)."""
    from airflow.providers.amazon.aws.secrets.secrets_manager import SecretsManagerBackend

    name = f"airflow/connections/probe_{abs(hash(json.dumps(value, sort_keys=True)))}"
    cloud.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(value))
    backend = SecretsManagerBackend(endpoint_url=localcloud.endpoint(), region_name="us-east-1", aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
    return backend.get_connection(name.rsplit("/", 1)[1])


def test_the_articles_flat_secret_loses_the_account_ours_keeps_it(module_cloud):
    flat = _as_airflow_reads_it(ARTICLE_SECRET)
    assert flat.login == "learner" and "account" not in flat.extra_dejson  # the hook could not connect with this
    assert "extra" in account.secret_problem(ARTICLE_SECRET)
    ours = account.connection_secret("xy12345", "learner", "pw-123456")
    conn = _as_airflow_reads_it(ours)
    assert (conn.conn_type, conn.login, conn.schema) == ("snowflake", "learner", "mwaa_schema")
    assert conn.extra_dejson == {"account": "xy12345", "database": "mwaa_db", "role": "accountadmin", "warehouse": "dev_wh"}
    assert account.secret_problem(ours) is None
    assert "password" in account.secret_problem(account.connection_secret("xy12345", "learner", "<<snowflake_password>>"))


def test_sns_messages_arrive_in_the_notebooks_queue(module_cloud):
    sns = cloud.client("sns")
    topic = sns.create_topic(Name=scenario.TOPIC)["TopicArn"]
    queue_url, queue_arn = scenario.inbox(topic)
    assert scenario.inbox(topic) == (queue_url, queue_arn)
    for _ in range(2):  # the notebook subscribes on every run: SNS keeps one subscription
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1
    cloud.client("sns").publish(TopicArn=topic, Subject="Top stations", Message=json.dumps([{"station_name": "A", "rides": 3}]))
    assert scenario.sns_messages(queue_url, timeout=10) == [{"subject": "Top stations", "message": [{"station_name": "A", "rides": 3}]}]


def test_snowflake_objects_are_listed_and_dropped_on_the_local_snowflake(module_cloud):
    put_secret(account.SECRET, json.dumps(account.local_connection_secret()), scenario.NOTEBOOK)
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    with account.snowflake_connection() as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {account.DATABASE}")
        cur.execute(f"CREATE STORAGE INTEGRATION IF NOT EXISTS {account.INTEGRATION} TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = 'S3' "
                    "ENABLED = TRUE STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/r' STORAGE_ALLOWED_LOCATIONS = ('s3://b/')")
    assert os.environ.get("REQUESTS_CA_BUNDLE") == before  # the local certificate was trusted for that session only
    assert sorted(account.snowflake_objects().itertuples(index=False, name=None)) == [
        ("database", "MWAA_DB"), ("integration", "MWAA_CITIBIKE_STORAGE_INT")]
    account.drop_snowflake_objects()
    assert account.snowflake_objects().empty


def test_expected_top_stations_come_from_the_sample():
    top = scenario.expected_top_stations(3)
    assert list(top.direction) == ["start"] * 3 + ["end"] * 3
    assert top.station_name.iloc[0] == "W 21 St & 6 Ave" and top.station_name.iloc[3] == "West St & Chambers St"
    assert list(top.rides[:3]) == sorted(top.rides[:3], reverse=True)


def test_a_secret_that_cannot_reach_snowflake_stops_the_notebook_in_one_line(monkeypatch):
    from helpers.chapters.snowflake import account as snowflake_account
    from helpers.errors import NotebookStopped, WorkbookError

    good = snowflake_account.connection_secret("acme-xy12345", "learner", "s3cret")
    assert snowflake_account.secret_problem(good) is None
    assert "placeholder" in snowflake_account.secret_problem({**good, "password": "<<your password>>"})
    assert "connection form" in snowflake_account.secret_problem({"host": "acme", "login": "u", "password": "p"})
    monkeypatch.setattr(snowflake_account, "snowflake_problem", lambda: "there is no secret airflow/connections/snowflake_accountadmin")
    with pytest.raises(NotebookStopped, match="^target=aws: there is no secret .*stop here.$") as stopped:
        snowflake_account.require_snowflake()
    assert isinstance(stopped.value, WorkbookError) and "\n" not in str(stopped.value)


class _FakeMwaa:
    """MWAA's GetEnvironment and UpdateEnvironment for one environment's configuration options."""

    def __init__(self, options: dict):
        self.options, self.updates = dict(options), []

    def describe(self, name):
        return {"Name": name, "AirflowConfigurationOptions": dict(self.options)}

    def get_environment(self, Name):  # noqa: N803
        return {"Environment": {**self.describe(Name), "Status": "AVAILABLE"}}

    def update_environment(self, Name, AirflowConfigurationOptions):  # noqa: N803 (boto3's keyword names)
        self.updates.append(AirflowConfigurationOptions)
        self.options = dict(AirflowConfigurationOptions)


def _with_environment(monkeypatch, options: dict, configured: str | None) -> _FakeMwaa:
    from types import SimpleNamespace

    from helpers.aws import mwaa

    fake = _FakeMwaa(options)
    monkeypatch.setattr(cloud, "settings", lambda: SimpleNamespace(mwaa_environment=configured, is_local=False))
    monkeypatch.setattr(mwaa, "describe", fake.describe)
    monkeypatch.setattr(mwaa, "client", lambda: fake)
    monkeypatch.setattr(mwaa, "wait_for_status", lambda *args, **kwargs: [])
    return fake


def test_your_environments_configuration_options_are_restored_as_they_were(monkeypatch):
    theirs = {"core.default_timezone": "utc", "secrets.backend": "their.own.Backend"}
    fake = _with_environment(monkeypatch, theirs, configured="their-env")
    assert scenario.remember_options("their-env", fake.describe("their-env")["AirflowConfigurationOptions"])
    fake.update_environment(Name="their-env", AirflowConfigurationOptions={**theirs, "secrets.backend": "ours"})
    # a re-run of the notebook sees the changed options: the record keeps the first ones
    assert not scenario.remember_options("their-env", fake.describe("their-env")["AirflowConfigurationOptions"])
    assert scenario.restore_options("their-env") == theirs
    assert fake.options == theirs and fake.updates[-1] == theirs
    assert scenario.restore_options("their-env") is None  # restored once; nothing recorded any more


def test_the_workbooks_own_environment_keeps_the_backend(monkeypatch):
    fake = _with_environment(monkeypatch, {}, configured=None)
    assert not scenario.remember_options("mwaa-workbook", {})
    assert scenario.restore_options("mwaa-workbook") is None and fake.updates == []


def test_the_architecture_figure_is_drawn():
    path = scenario.architecture_figure()
    assert path.name == "05_snowflake-architecture.png" and path.stat().st_size > 10_000


def test_a_deployed_dags_graph_is_drawn_from_the_tasks_airflow_reports(monkeypatch):
    from helpers.aws import mwaa
    from helpers.dagtools import dag_figures

    answer = {"tasks": [{"task_id": "load", "downstream_task_ids": ["query_a", "query_b"]},
                        {"task_id": "query_a", "downstream_task_ids": []}, {"task_id": "query_b", "downstream_task_ids": None}]}
    asked, drawn = [], {}
    monkeypatch.setattr(mwaa.AirflowApi, "call", lambda self, method, path, *a, **k: asked.append((method, path)) or answer)
    monkeypatch.setattr(dag_figures, "draw", lambda dag, title, name: drawn.update(dag=dag, title=title, name=name) or name)
    assert scenario.dag_graph("env", "pipeline") == "graph_pipeline"
    assert asked == [("GET", "/dags/pipeline/tasks")] and drawn["title"] == "DAG pipeline"
    assert {t: spec["downstream"] for t, spec in drawn["dag"]["tasks"].items()} == {"load": ["query_a", "query_b"], "query_a": [],
                                                                                    "query_b": []}
