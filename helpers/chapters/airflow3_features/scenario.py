"""Notebook 09's plumbing: names, the emulation note, the sample API's address, waiting for runs the scheduler starts,
sample texts, the figures, the execution role's policy, clean-up.

The notebook makes the calls that are the lesson (the DAGs, their runs and REST API reads, the topic and queue); what
is here waits, draws and deletes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from helpers.aws import cleanup, cloud, mwaa, tags
from helpers.errors import WorkbookError
from helpers.procs import wait_until

NOTEBOOK = "09_airflow3_features"
DAG_IDS = ("assets_producer", "assets_consumer", "assets_conditions", "sqs_event_driven", "count_lines_mapping",
           "file_stats_group", "notifiers_demo", "queued_timeout", "continuous_timetable", "params_trigger_form")
DAG_FILES = tuple(f"{dag_id}.py" for dag_id in DAG_IDS)
EXERCISE_DAG = "features_exercise"
VARIABLES = ("continuous_timetable_runs",)
QUEUE_OPTION = "workbook.sqs_event_queue_url"  # read by sqs_event_driven.py when it is parsed
TOPIC = "mwaa-workbook-09-notifications"
EVENTS_QUEUE = "mwaa-workbook-09-events"
EXECUTION_POLICY = f"{NOTEBOOK}-features"
EMULATED = ("Emulated by the local cloud: the HTTP API the producer reads is the local cloud's sample API "
            "(/_workbook/sample-api/); SNS and SQS are moto's; the local MWAA's workers serve only the default queue "
            "(step 4).")


def service_note() -> str:
    return EMULATED if cloud.settings().is_local else "SNS, SQS, S3 and MWAA: the real services; the API: yours"


def unserved_queue_stays_queued() -> bool:
    """Whether a task naming a queue no worker serves stays queued (step 4). The local MWAA's workers serve only the
    default queue and leave the rest queued; MWAA's Celery broker knows only the environment's own queue, so such a
    task fails when it is sent, and there a queued timeout of seconds would requeue tasks merely slow to start."""
    return cloud.settings().is_local


def records_url(api_url: str, dataset: str) -> str:
    """The producer's API: `api_url` when given (required on AWS; the dataset is then ignored), else the local
    cloud's sample API for `dataset`, at the address the environment's workers reach."""
    if api_url:
        return api_url
    if not cloud.settings().is_local:
        raise WorkbookError("On AWS this notebook needs an HTTP API answering JSON records: set the parameter api_url.")
    from helpers import localcloud

    return f"{localcloud.endpoint()}/_workbook/sample-api/{dataset}?per_page=20"


def grant(environment: str, bucket: str) -> None:
    """The execution role may use this notebook's bucket and publish to its topic."""
    region, account = cloud.settings().region, cloud.account_id()
    mwaa.grant(environment, EXECUTION_POLICY, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": f"arn:aws:sns:{region}:{account}:{TOPIC}"},
    ]})


# --- runs the scheduler starts ---------------------------------------------------------------------------------------

def runs(api: mwaa.AirflowApi, dag_id: str) -> pd.DataFrame:
    """The DAG's runs, oldest first: run id, state, run type, start and end (UTC)."""
    found = api.call("GET", f"/dags/{dag_id}/dagRuns", {"order_by": "run_after", "limit": 100})["dag_runs"]
    table = pd.DataFrame(found, columns=["dag_run_id", "state", "run_type", "start_date", "end_date", "run_after"])
    for column in ("start_date", "end_date", "run_after"):
        table[column] = pd.to_datetime(table[column], utc=True, format="ISO8601")
    return table.reset_index(drop=True)


def wait_for_new_run(api: mwaa.AirflowApi, dag_id: str, known: int, timeout: float = 120) -> dict:
    """The first run after the `known` ones, once it has ended."""
    def ended() -> bool:
        table = runs(api, dag_id)
        return len(table) > known and table.state.iloc[known] in ("success", "failed")

    wait_until(ended, timeout=timeout, what=f"a new run of {dag_id}")
    return runs(api, dag_id).iloc[known].to_dict()


def new_runs_within(api: mwaa.AirflowApi, dag_id: str, known: int, seconds: float) -> int:
    """How many runs beyond the `known` ones appear within `seconds` (waits the whole time: absence takes a while)."""
    time.sleep(seconds)
    return max(0, len(runs(api, dag_id)) - known)


def wait_for_runs(api: mwaa.AirflowApi, dag_id: str, count: int, known: int = 0, timeout: float = 240) -> pd.DataFrame:
    """Wait until `count` runs after the `known` ones have ended; those runs (and any started since), numbered from 1."""
    def ended() -> bool:
        return runs(api, dag_id).iloc[known:].state.isin(["success", "failed"]).sum() >= count

    wait_until(ended, timeout=timeout, what=f"{count} runs of {dag_id}")
    table = runs(api, dag_id).iloc[known:].reset_index(drop=True)
    return table.assign(run=range(1, len(table) + 1))


def sample_texts(count: int) -> dict[str, str]:
    """`count` small text files (name -> text) with different, known line counts."""
    words = ["lineage", "asset", "mapping", "notifier", "timetable", "trigger", "schema", "worker", "scheduler"]
    return {f"file_{n:02d}.txt": "\n".join(f"{words[(n + i) % len(words)]} {i}" for i in range(3 + 2 * n)) + "\n"
            for n in range(1, count + 1)}


def clear_queued_events(api: mwaa.AirflowApi, dag_id: str) -> bool:
    """Drop the asset events a DAG's next run waits on (what an interrupted run left); False when there were none."""
    try:
        api.call("DELETE", f"/dags/{dag_id}/assets/queuedEvents")
        return True
    except WorkbookError:  # 404: nothing queued
        return False


def delete_variable(api: mwaa.AirflowApi, key: str) -> bool:
    try:
        api.call("DELETE", f"/variables/{key}")
        return True
    except WorkbookError:  # 404: none
        return False


def queued_story(api: mwaa.AirflowApi, dag_id: str, run_id: str, task_id: str) -> pd.DataFrame:
    """What the scheduler recorded about one task instance in the audit log (`GET /eventLogs`), oldest first, with
    seconds since the first entry: its requeues after `task_queued_timeout` and its failure."""
    logs = api.call("GET", "/eventLogs", {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "order_by": "when",
                                          "limit": 100})["event_logs"]
    table = pd.DataFrame(logs, columns=["when", "event", "extra"])
    table["when"] = pd.to_datetime(table["when"], utc=True, format="ISO8601")
    table.insert(0, "second", (table["when"] - table["when"].min()).dt.total_seconds().round().astype(int))
    return table.drop(columns="when").reset_index(drop=True)


# --- figures ---------------------------------------------------------------------------------------------------------

def asset_graph(api: mwaa.AirflowApi, producer: str, consumer: str, name: str = f"{NOTEBOOK}_assets") -> Path:
    """Producer -> asset -> consumer, the asset named as the consumer's schedule declares it (its DAG details)."""
    from helpers.tooling.charts import box_diagram

    expression = api.call("GET", f"/dags/{consumer}/details").get("asset_expression") or {}
    assets = [a["asset"]["name"] for a in expression.get("any", expression.get("all", [])) if "asset" in a]
    if len(assets) != 1:
        raise WorkbookError(f"{consumer} is scheduled on {assets or 'no asset'}, not on one asset.")
    boxes = {producer: (f"DAG {producer}\n(task outlet)", 0.3, 1.0, 2.8, "#eaf2fb"),
             "asset": (f"asset {assets[0]}\n(asset event)", 3.7, 1.0, 2.4, "#fef5e7"),
             consumer: (f"DAG {consumer}\n(schedule=[asset])", 6.7, 1.0, 2.9, "#eaf2fb")}
    arrows = [(producer, "asset", "updates", "#2c3e50", False), ("asset", consumer, "schedules", "#2c3e50", False)]
    return box_diagram(boxes, arrows, size=(8, 1.8), limits=(10, 2.8), title="Data-aware scheduling", name=name)


def runs_timeline(chain: pd.DataFrame, title: str, name: str) -> Path:
    """One bar per run, from start to end, green when it succeeded and red when it failed."""
    from helpers.tooling.charts import _save, plt

    done = chain.dropna(subset=["start_date", "end_date"])
    origin = done.start_date.min()
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.4 * len(done)))
    for row_no, row in enumerate(done.itertuples()):
        left = (row.start_date - origin).total_seconds()
        ax.barh(row_no, max((row.end_date - row.start_date).total_seconds(), 0.3), left=left,
                color="#27ae60" if row.state == "success" else "#c0392b")
    ax.set_yticks(range(len(done)), [f"run {n}" for n in done.run])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first run started")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, name)


# --- clean-up --------------------------------------------------------------------------------------------------------

def clean_up(environment: str) -> pd.DataFrame:
    """Notebook 09's DAGs (files, then metadata), the execution policy, then what carries its tag (bucket, topic,
    queue). One row per resource."""
    rows = mwaa.remove_dags(environment, (*DAG_IDS, EXERCISE_DAG))
    api = mwaa.AirflowApi(environment)
    rows += [{"resource": f"variable {key}", "deleted": True} for key in VARIABLES if delete_variable(api, key)]
    # the options go back while the tagged resources are deleted: the update restarts Airflow, they need no Airflow
    restored = mwaa.restore_options(environment, NOTEBOOK, wait=False) is not None
    if mwaa.revoke(environment, EXECUTION_POLICY):
        rows.append({"resource": f"execution role policy {EXECUTION_POLICY}", "deleted": True})
    tagged = cleanup.delete_tagged(NOTEBOOK)
    rows += [{"resource": arn, "deleted": bool(done)} for arn, done in zip(tagged.arn, tagged.deleted, strict=True)]
    if restored:
        mwaa.wait_for_status(environment, "AVAILABLE", timeout=3600)
        rows.append({"resource": "AirflowConfigurationOptions as before", "deleted": True})
    return pd.DataFrame(rows, columns=["resource", "deleted"])


def leftovers(environment: str) -> pd.DataFrame:
    found = [{"what": "tagged", "name": arn} for arn in tags.tagged_resources(NOTEBOOK).arn]
    api = mwaa.AirflowApi(environment)
    found += [{"what": "dag", "name": d} for d in api.dags().dag_id if d in (*DAG_IDS, EXERCISE_DAG)]
    variables = {v["key"] for v in api.call("GET", "/variables", {"limit": 100})["variables"]}
    found += [{"what": "variable", "name": key} for key in VARIABLES if key in variables]
    if QUEUE_OPTION in (mwaa.describe(environment).get("AirflowConfigurationOptions") or {}):
        found.append({"what": "configuration option", "name": QUEUE_OPTION})
    return pd.DataFrame(found, columns=["what", "name"])
