"""Scenario 05: Snowflake with MWAA, the article's three DAGs on Airflow 3.

The notebook makes the scenario's calls itself (buckets, the SNS topic, the storage integration's IAM role, the
secrets, the execution role's policy, the secrets backend). What is here is the plumbing around them: the SQS queue
that stands in for the article's email subscription, creating the workshop environment with the backend when it is
missing, keeping and restoring the configuration options of an environment that is not the workbook's, reading
the SNS inbox, the expected answer from the sample data, clean-up, and the figures.

On the local target Snowflake is the local cloud's (fakesnow, emulated); on `aws` it is your Snowflake account,
whose credentials you put in the secret yourself (see `snowflake_account`, which also queries Snowflake directly).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from helpers.aws import cleanup, cloud, mwaa, s3
from helpers.aws.tags import tagged_resources, tags
from helpers.chapters.snowflake.account import drop_snowflake_objects, snowflake_objects, snowflake_problem
from helpers.paths import DAGS_DIR

NOTEBOOK = "05_snowflake"
DAG_FILES = {"snowflake_connection_check": "snowflake_connection_check.py",
             "snowflake_initial_setup": "snowflake_initial_setup.py",
             "snowflake_citibike_pipeline": "snowflake_citibike_pipeline.py"}
QUERIES = DAGS_DIR / "mwaa_snowflake_queries"
TOPIC = "mwaa_snowflake"
SNOWFLAKE_ROLE = "mwaa-workbook-05-snowflake-stage-reader"  # the article's "mysnowflakerole"
EXECUTION_POLICY = "mwaa-workbook-05-snowflake"  # added to the environment's execution role
EXERCISE_DAG = "snowflake_copy_exercise"  # the exercise's DAG (its file is written by the notebook)


# ---- prerequisites (the notebook makes the calls; these are the plumbing around them) ----

def inbox(topic_arn: str) -> tuple[str, str]:
    """An SQS queue SNS may deliver to: the notebook's inbox for the topic (the article subscribes an email).
    Returns (queue URL, queue ARN); the notebook subscribes it."""
    sqs = cloud.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"mwaa-workbook-05-{TOPIC}-inbox", tags=tags(NOTEBOOK))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                      "Action": "sqs:SendMessage", "Resource": queue_arn,
                                                      "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]}
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    return queue_url, queue_arn


def environment(options: dict[str, str], timeout: float = 3600) -> str:
    """The workshop environment: created with `options` when missing (so no update is needed after), else the
    existing one (01's, or your `mwaa_environment` on AWS), waited for until AVAILABLE."""
    name = mwaa.WORKSHOP_ENVIRONMENT
    if cloud.settings().mwaa_environment or mwaa.status(name) is not None:
        return mwaa.workshop_environment(timeout)
    mwaa.create_environment(mwaa.environment_request(name, mwaa.workshop_prerequisites(), mwaa.WORKSHOP,
                                                     AirflowConfigurationOptions=options))
    mwaa.wait_for_status(name, "AVAILABLE", timeout)
    return name


def remember_options(environment: str, options: dict[str, str]) -> bool:
    """Keep an environment's AirflowConfigurationOptions from before this notebook changed them, so clean-up can put
    them back. Only for an environment that is not the workbook's (your `mwaa_environment`): the workbook's own keeps
    the backend until 99 deletes it. The first record wins, so a re-run does not record the changed options."""
    if environment != cloud.settings().mwaa_environment or mwaa._options_record(environment, NOTEBOOK).exists():
        return False
    mwaa.remember_options(environment, NOTEBOOK, options)
    return True


def restore_options(environment: str, timeout: float = 3600) -> dict[str, str] | None:
    """Put back what `remember_options` kept; None if nothing was recorded (the workbook's own environment)."""
    return mwaa.restore_options(environment, NOTEBOOK, timeout)


# ---- after DAG 3 ----

def expected_top_stations(n: int = 10) -> pd.DataFrame:
    """The same lists computed from the sample data with pandas, to check the pipeline against."""
    from helpers.samples import citibike as sample_citibike

    rows = pd.DataFrame([r for month in sample_citibike.generate().values() for r in month], columns=sample_citibike.COLUMNS)
    frames = []
    for direction in ("start", "end"):
        counts = rows[rows[f"{direction}_station_name"] != ""].groupby(f"{direction}_station_name").size()
        top = counts.rename("rides").reset_index().rename(columns={f"{direction}_station_name": "station_name"})
        top = top.sort_values(["rides", "station_name"], ascending=[False, True]).head(n)
        frames.append(top.assign(direction=direction)[["direction", "station_name", "rides"]])
    return pd.concat(frames, ignore_index=True)


def sns_messages(queue_url: str, expect: int = 1, timeout: float = 30) -> list[dict]:
    """Messages the topic delivered to the notebook's queue, as {subject, message}; read and deleted."""
    import time

    sqs, found, deadline = cloud.client("sqs"), [], time.monotonic() + timeout
    while len(found) < expect and time.monotonic() < deadline:
        for msg in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", []):
            envelope = json.loads(msg["Body"])
            try:
                body = json.loads(envelope["Message"])
            except ValueError:
                body = envelope["Message"]
            found.append({"subject": envelope.get("Subject"), "message": body})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
    return found


# ---- clean-up ----

def clean_up(environment: str) -> pd.DataFrame:
    """Delete what the scenario made: the Snowflake objects (where reachable), the DAGs (the exercise's too) and their SQL
    in the environment, the execution role's extra policy, and every AWS resource tagged for this notebook.
    Returns what was deleted."""
    if snowflake_problem() is None:
        drop_snowflake_objects()
    bucket, prefix = mwaa.source_bucket(environment)
    api = mwaa.AirflowApi(environment)
    deployed = set(api.dags().dag_id)
    files = {**DAG_FILES, EXERCISE_DAG: f"{EXERCISE_DAG}.py"}
    for name in files.values():  # every file first: the environment then drops them in one sync, not one wait each
        cloud.client("s3").delete_object(Bucket=bucket, Key=f"{prefix}{name}")
    for dag_id in files:
        if dag_id in deployed:
            api.wait_for_dag(dag_id, present=False, timeout=120)
            api.delete_dag(dag_id)
    s3.delete_prefix(bucket, f"{prefix}{QUERIES.name}/")
    mwaa.revoke(environment, EXECUTION_POLICY)
    sns = cloud.client("sns")
    for topic in [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f":{TOPIC}")]:
        for sub in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]:
            sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    return cleanup.delete_tagged(NOTEBOOK)


def leftovers() -> pd.DataFrame:
    """What is left of the scenario (kind, name): tagged AWS resources and, where reachable, Snowflake objects."""
    rows = [("aws", arn) for arn in tagged_resources(NOTEBOOK).arn]
    if cloud.settings().is_local or snowflake_problem() is None:
        rows += [(f"snowflake {kind}", name) for kind, name in snowflake_objects().itertuples(index=False)]
    return pd.DataFrame(rows, columns=["kind", "name"])


# ---- figures ----

def top_stations_chart(frame: pd.DataFrame) -> Path:
    """Bar charts of the top start and end stations (saved under build/plots/)."""
    from helpers.tooling import charts

    return charts.ranked_bars(frame, "direction", "station_name", "rides", "Top Citi Bike stations (rides)", f"{NOTEBOOK}-top-stations")


def dag_graph(environment: str, dag_id: str) -> Path:
    """A deployed DAG's graph as the environment's Airflow parsed it (`GET /dags/{dag_id}/tasks` through InvokeRestApi),
    drawn by dag_figures: no second parse of the file here (that costs seconds). The Snowflake DAGs have no setup or
    teardown tasks, which that API does not report."""
    from helpers.dagtools import dag_figures

    return dag_figures.environment_graph(mwaa.AirflowApi(environment), dag_id)


# (label, x, y, colour): MWAA green, AWS services orange, S3 data grey, Snowflake blue. Left column: MWAA, what it
# reads its settings from and where it publishes; middle: the buckets; right: Snowflake and the role it reads the stage with.
_BOXES = {
    "secrets": ("Secrets Manager\nairflow/connections/snowflake_accountadmin\nairflow/variables/* (4 variables)", 1.7, 5.2, "#fdebd0"),
    "mwaa": ("Amazon MWAA environment\nsecrets.backend =\nSecretsManagerBackend", 1.7, 3.0, "#d5f5e3"),
    "sns": ("SNS topic mwaa_snowflake\n→ SQS inbox\n(the article: an email)", 1.7, 0.8, "#fdebd0"),
    "source": ("S3 source bucket\nmonthly trip zips\n(the article's s3://tripdata)", 6.2, 5.2, "#eaecee"),
    "destination": ("S3 destination bucket\ncitibike/*.csv\n(the stage's URL)", 6.2, 3.0, "#eaecee"),
    "role": ("IAM role (stage reader)\ns3:GetObject, s3:ListBucket\ntrusts Snowflake's IAM user\n+ sts:ExternalId", 10.9, 3.0,
             "#fdebd0"),
    "snowflake": ("Snowflake mwaa_db.mwaa_schema\nstorage integration → stage\nCOPY INTO citibike_tbl\nview, top stations", 10.9, 0.8,
                  "#d6eaf8"),
}
_WIDTH, _HEIGHT = 3.4, 1.3
# (from box, side, to box, side, label); a side may carry an offset along it ("bottom+1.3": 1.3 right of the middle)
_ARROWS = [
    ("mwaa", "top", "secrets", "bottom", "connection + variables (GetSecretValue)"),
    ("source", "bottom-0.9", "mwaa", "top+1.2", "DAG 3 reads the zips"),
    ("mwaa", "right", "destination", "left", "DAG 3 writes\nCSV parts"),
    ("mwaa", "bottom", "sns", "top", "DAG 3 publishes the top stations"),
    ("mwaa", "bottom+1.4", "snowflake", "left+0.2", "DAGs 1-3 run SQL as snowflake_accountadmin"),
    ("snowflake", "top", "role", "bottom", "sts:AssumeRole\n(ExternalId)"),
    ("role", "left", "destination", "right", "reads\nthe stage"),
]


def _point(box: str, side: str) -> tuple[float, float]:
    _, x, y, _ = _BOXES[box]
    name, _, offset = side.partition("+") if "+" in side else side.partition("-")
    shift = float(offset or 0) * (1 if "+" in side else -1)
    return {"left": (x - _WIDTH / 2, y + shift), "right": (x + _WIDTH / 2, y + shift),
            "top": (x + shift, y + _HEIGHT / 2), "bottom": (x + shift, y - _HEIGHT / 2)}[name]


def architecture_figure() -> Path:
    """The scenario's architecture (MWAA, Secrets Manager, S3 buckets, the storage integration's IAM role, Snowflake,
    SNS) as a figure under build/plots/: boxes and arrows drawn with matplotlib, no image files."""
    from matplotlib.patches import FancyBboxPatch

    from helpers.tooling.charts import _save, plt

    fig, ax = plt.subplots(figsize=(12.5, 6.6))
    for label, x, y, colour in _BOXES.values():
        ax.add_patch(FancyBboxPatch((x - _WIDTH / 2, y - _HEIGHT / 2), _WIDTH, _HEIGHT, boxstyle="round,pad=0.05",
                                    facecolor=colour, edgecolor="#34495e"))
        ax.text(x, y, label, ha="center", va="center", fontsize=8.5)
    for start, start_side, end, end_side, label in _ARROWS:
        (sx, sy), (ex, ey) = _point(start, start_side), _point(end, end_side)
        ax.annotate("", xy=(ex, ey), xytext=(sx, sy), arrowprops={"arrowstyle": "->", "color": "#566573", "lw": 1.4})
        ax.text((sx + ex) / 2, (sy + ey) / 2, label, ha="center", va="center", fontsize=7.5, color="#1b2631",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.95})
    ax.set_xlim(-0.1, 12.7)
    ax.set_ylim(0.0, 6.1)
    ax.axis("off")
    ax.set_title("Notebook 05: Snowflake with Amazon MWAA\n(green: MWAA, orange: AWS services, grey: S3 data, blue: Snowflake)",
                 fontsize=10)
    return _save(fig, f"{NOTEBOOK}-architecture")
