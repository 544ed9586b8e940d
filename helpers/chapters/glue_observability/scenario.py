"""Notebook 07's plumbing: names, the emulation note, waiting for Athena and Logs Insights, the figures, clean-up.

The notebook itself makes the calls that are the lesson (the catalog table, the Glue job, the roles and policies,
the DAGs' runs, the queries); what is here waits, reshapes answers into tables, draws, and deletes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from helpers.aws import cleanup, cloud, iam, mwaa, s3, tags
from helpers.procs import wait_until

NOTEBOOK = "07_glue_observability"
CLOUDTRAIL_DB, CLOUDTRAIL_TABLE = "mwaa_workbook_cloudtrail", "cloudtrail_logs"
REPORTS_DB, REPORTS_TABLE = "mwaa_workbook_cloudtrail_reports", "cloudtrail_daily_usage"
AGGREGATION_JOB, PIPELINE_JOB = "cloudtrail-aggregation", "observability-raw-to-transform"
GLUE_ROLE = "mwaa-workbook-07-glue"
EMR_SERVICE_ROLE, EMR_EC2_ROLE = "mwaa-workbook-07-emr-service", "mwaa-workbook-07-emr-ec2"
EXECUTION_POLICY = f"{NOTEBOOK}-pipelines"
DAG_IDS = ("cloudtrail_glue_aggregation", "observability_pipeline")
DAG_FILES = tuple(f"{dag_id}.py" for dag_id in DAG_IDS)
EMULATED = ("Emulated by the local cloud: Glue Python shell jobs run as local processes; Athena runs the SQL in "
            "DuckDB over the catalog's files; EMR runs each step's script with plain Python (no Spark) and also "
            "writes its output to CloudWatch Logs; Logs Insights evaluates a subset of its query language.")


def service_note() -> str:
    """Who answers Glue, Athena, EMR and Logs Insights here, in one line."""
    return EMULATED if cloud.settings().is_local else "Glue, Athena, EMR and Logs Insights: the real services"


# --- waiting for answers --------------------------------------------------------------------------------------------

def athena_frame(execution_id: str, timeout: float = 120) -> pd.DataFrame:
    """Wait for an Athena query and return its rows (every page, the header row dropped), typed by the column info."""
    athena = cloud.client("athena")

    def finished() -> bool:
        state = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]["State"]
        return state in ("SUCCEEDED", "FAILED", "CANCELLED")

    wait_until(finished, timeout, "Athena query", interval=0.3)
    status = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
    if status["State"] != "SUCCEEDED":
        raise RuntimeError(f"Athena query {status['State']}: {status.get('StateChangeReason', '')}")
    pages = athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id)
    columns, rows = None, []
    for page in pages:
        columns = columns or page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
        rows += [[cell.get("VarCharValue") for cell in row["Data"]] for row in page["ResultSet"]["Rows"]]
    frame = pd.DataFrame(rows[1:], columns=[c["Name"] for c in columns])
    for column in columns:
        if column["Type"] in ("bigint", "integer", "smallint", "tinyint"):
            frame[column["Name"]] = frame[column["Name"]].astype("int64")
        elif column["Type"] in ("double", "float", "real", "decimal"):
            frame[column["Name"]] = frame[column["Name"]].astype("float64")
    return frame


def insights_frame(query_id: str, timeout: float = 60) -> pd.DataFrame:
    """Wait for a Logs Insights query and return its rows as a table (`@ptr` left out)."""
    logs = cloud.client("logs")
    answer = {}

    def finished() -> bool:
        answer.update(logs.get_query_results(queryId=query_id))
        return answer["status"] in ("Complete", "Failed", "Cancelled", "Timeout")

    wait_until(finished, timeout, "Logs Insights query", interval=0.3)
    if answer["status"] != "Complete":
        raise RuntimeError(f"Logs Insights query {answer['status']}")
    rows = [{field["field"]: field["value"] for field in row if field["field"] != "@ptr"} for row in answer["results"]]
    return pd.DataFrame(rows)


def log_groups(*prefixes: str) -> list[str]:
    """The log groups that exist under these prefixes (Logs Insights refuses a group that does not)."""
    logs, found = cloud.client("logs"), []
    for prefix in prefixes:
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
            found += [group["logGroupName"] for group in page["logGroups"]]
    return sorted(set(found))


def epoch(seconds_ago: float = 0.0) -> int:
    return int(time.time() - seconds_ago)


# --- reading what ran -----------------------------------------------------------------------------------------------

def relayed(task_log: list[str], *needles: str) -> list[str]:
    """The lines of an Airflow task log that hold any of `needles`, stripped. A relayed block (the Glue job's lines
    arrive as one log entry) is split into its lines first."""
    lines = [part for entry in task_log for part in entry.splitlines()]
    return [line.strip() for line in lines if any(needle in line for needle in needles)]


def emr_step_log(log_uri: str, cluster_id: str, step_id: str, stream: str = "stdout") -> list[str]:
    """A step's stdout or stderr from the cluster's LogUri in S3 (EMR's layout: <LogUri>/<cluster>/steps/<step>/)."""
    import gzip

    bucket, _, prefix = log_uri.removeprefix("s3://").removeprefix("s3n://").partition("/")
    key = f"{prefix.rstrip('/')}/{cluster_id}/steps/{step_id}/{stream}.gz"
    body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return gzip.decompress(body).decode().splitlines()


# --- figures --------------------------------------------------------------------------------------------------------

_BOXES = {  # label, x, y, width, colour
    "trail": ("CloudTrail logs in S3\nregion=… / snapshot_date=…\n{\"Records\": [...]}.json.gz", 0.2, 4.2, 2.8, "#ebedef"),
    "catalog": ("Glue Data Catalog\ntable cloudtrail_logs\n(CloudTrail SerDe, 2 partitions)", 3.7, 4.2, 2.8, "#e8daef"),
    "athena": ("Athena\nfilters one day, two regions", 7.2, 4.2, 2.6, "#d6eaf8"),
    "glue_agg": ("Glue Python shell job\ncloudtrail-aggregation\npandas: aggregate", 10.5, 4.2, 2.7, "#fdebd0"),
    "report": ("Parquet table\ncloudtrail_daily_usage\npartition snapshot_date", 13.9, 4.2, 2.6, "#ebedef"),
    "mwaa": ("MWAA\nDAG cloudtrail_glue_aggregation\nDAG observability_pipeline\ncorrelation_id = {{ run_id }}", 0.2, 2.0, 3.1, "#d5f5e3"),
    "glue_task": ("Glue job raw-to-transform\nlogs dag.task run_id", 4.3, 2.0, 2.8, "#fdebd0"),
    "emr": ("EMR cluster (name, LogUri\ncarry the run_id), step\nerror_report.py logs it", 4.3, 0.2, 2.8, "#fadbd8"),
    "logs": ("CloudWatch Logs\nairflow-…-Task · /aws-glue/python-jobs/*\n/aws/emr/<cluster> · S3 LogUri", 8.2, 1.05, 3.4, "#d6eaf8"),
    "insights": ("Logs Insights\none query by run_id\n→ every service's lines", 12.6, 1.05, 2.8, "#d5f5e3"),
}
_ARROWS = [("trail", "catalog", "describes"), ("catalog", "athena", "SQL"), ("athena", "glue_agg", "awswrangler"),
           ("glue_agg", "report", "to_parquet"), ("mwaa", "glue_agg", "GlueJobOperator(verbose=True)"),
           ("mwaa", "glue_task", "--correlation_id"), ("mwaa", "emr", "Name, LogUri, step args"),
           ("glue_task", "logs", ""), ("emr", "logs", ""), ("mwaa", "logs", "task logs"), ("logs", "insights", "")]
_HEIGHT = 1.0


def architecture_figure(name: str = f"{NOTEBOOK}_architecture") -> Path:
    """Top: the CloudTrail aggregation (S3 → catalog → Athena → Glue → Parquet). Bottom: one run id through Airflow,
    Glue and EMR into CloudWatch Logs, found again by Logs Insights. Saved under build/plots/."""
    from helpers.tooling.charts import box_diagram

    def centre(key: str) -> tuple[float, float]:
        _, x, y, w, _ = _BOXES[key]
        return x + w / 2, y + _HEIGHT / 2

    (mx, my), (gx, gy) = centre("mwaa"), centre("glue_agg")
    anchors = {("mwaa", "glue_agg"): ((mx, my + _HEIGHT / 2), (gx, gy - _HEIGHT / 2)),  # above the bottom row's boxes
               ("mwaa", "logs"): ((mx, my - _HEIGHT / 2), None)}  # under the Glue job's box
    arrows = [(start, end, label, "#2c3e50", False) for start, end, label in _ARROWS]
    return box_diagram(_BOXES, arrows, (16.5, 5.8), (16.7, 5.5),
                       "Glue orchestration (top) and one correlation id across Airflow, Glue and EMR (bottom)", name,
                       height=_HEIGHT, line_width=1.2, anchors=anchors)


SERVICE_COLOURS = {"Airflow": "#2e8b57", "Glue": "#e67e22", "EMR": "#c0392b"}


def service_of(log_group: str) -> str:
    if log_group.startswith("airflow-"):
        return "Airflow"
    if log_group.startswith("/aws-glue/"):
        return "Glue"
    return "EMR" if log_group.startswith("/aws/emr") else log_group


def span_label(service: str, stream: str) -> str:
    """A short name for a log stream of one run: the Airflow task, the Glue job run's stream, the EMR step's stream."""
    if service == "Airflow":
        task = next((part.split("=", 1)[1] for part in stream.split("/") if part.startswith("task_id=")), stream)
        return f"Airflow {task}"
    if service == "Glue":
        return "Glue job run"
    return "EMR " + stream.rsplit("/", 1)[-1] if service == "EMR" else stream


def timeline_figure(spans: pd.DataFrame, title: str, name: str) -> Path:
    """One bar per row of `spans` (columns label, service, first, last as times, lines), coloured by service: when
    each part of one DAG run wrote its first and last line."""
    from helpers.tooling.charts import _save, plt

    frame = spans.sort_values("first", ignore_index=True)
    origin = frame["first"].min()
    fig, ax = plt.subplots(figsize=(9, 0.7 + 0.42 * len(frame)))
    for row_no, row in frame.iterrows():
        left = (row["first"] - origin).total_seconds()
        width = max((row["last"] - row["first"]).total_seconds(), 0.3)
        ax.barh(row_no, width, left=left, color=SERVICE_COLOURS.get(row.service, "#7f8c8d"))
        ax.text(left + width + 0.3, row_no, f"{row.lines} lines", va="center", fontsize=7)
    ax.set_yticks(range(len(frame)), frame.label)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the run's first line")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in SERVICE_COLOURS.values()]
    ax.legend(handles, list(SERVICE_COLOURS), loc="upper right", fontsize=7)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, name)


# --- roles ----------------------------------------------------------------------------------------------------------

def emr_service_role(trust: dict) -> str:
    """EMR's service role (what `aws emr create-default-roles` makes), with the AWS managed policy attached; reused.
    Prints what it sent. Returns the ARN."""
    import json

    api = cloud.client("iam")
    try:
        arn = api.create_role(RoleName=EMR_SERVICE_ROLE, Path=iam.PATH, AssumeRolePolicyDocument=json.dumps(trust),
                              Description="EMR service role of notebook 07", Tags=tags.tag_list(NOTEBOOK))["Role"]["Arn"]
    except api.exceptions.EntityAlreadyExistsException:
        arn = api.get_role(RoleName=EMR_SERVICE_ROLE)["Role"]["Arn"]
    policy = "arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
    note = ""
    try:
        api.attach_role_policy(RoleName=EMR_SERVICE_ROLE, PolicyArn=policy)
    except api.exceptions.NoSuchEntityException:
        if not cloud.settings().is_local:
            raise
        note = " (not in the local cloud, whose EMR does not check it)"  # moto loads no AWS managed policies
    print(f"CreateRole {EMR_SERVICE_ROLE} (trusts elasticmapreduce.amazonaws.com), AttachRolePolicy "
          f"AmazonEMRServicePolicy_v2{note}")
    return arn


def instance_profile(name: str) -> str:
    """The instance profile of the same name holding role `name` (EMR's nodes take a profile, not a role); reused."""
    api = cloud.client("iam")
    try:
        api.create_instance_profile(InstanceProfileName=name, Path=iam.PATH, Tags=tags.tag_list(NOTEBOOK))
    except api.exceptions.EntityAlreadyExistsException:
        pass
    held = api.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
    if not any(role["RoleName"] == name for role in held):
        api.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return name


def _delete_instance_profile(name: str) -> bool:
    api = cloud.client("iam")
    try:
        profile = api.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    except api.exceptions.NoSuchEntityException:
        return False
    for role in profile["Roles"]:
        api.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    api.delete_instance_profile(InstanceProfileName=name)
    return True


# --- clean-up -------------------------------------------------------------------------------------------------------

def _clusters() -> list[dict]:
    """The EMR clusters this notebook made (by tag), in any state."""
    emr = cloud.client("emr")
    found = []
    for page in emr.get_paginator("list_clusters").paginate():
        for summary in page["Clusters"]:
            if summary["Name"].startswith("observability_pipeline."):
                cluster = emr.describe_cluster(ClusterId=summary["Id"])["Cluster"]
                if {"Key": "workbook:notebook", "Value": NOTEBOOK} in cluster.get("Tags", []):
                    found.append(cluster)
    return found


def _job_run_streams(job: str) -> list[tuple[str, str]]:
    glue = cloud.client("glue")
    try:
        runs = glue.get_job_runs(JobName=job)["JobRuns"]
    except glue.exceptions.EntityNotFoundException:
        return []
    return [(f"{run.get('LogGroupName', '/aws-glue/python-jobs')}/{stream}", run["Id"])
            for run in runs for stream in ("output", "error")]


def clean_up(environment: str) -> pd.DataFrame:
    """Everything notebook 07 made: its DAGs (files, then metadata) and their task log streams, the execution role's
    policy, the EMR clusters (terminated) and their log groups, the Glue jobs with their runs' log streams, the two
    databases with their tables, the roles and instance profile, then whatever else carries the notebook's tag (the
    bucket). One row per resource, with whether it was deleted."""
    rows = []
    bucket, prefix = mwaa.source_bucket(environment)
    api = mwaa.AirflowApi(environment)
    for key in s3.list_keys(bucket, prefix):  # every file first: the environment drops them in one sync
        if Path(key).stem in DAG_IDS or Path(key).stem.startswith("observability_exercise"):
            cloud.client("s3").delete_object(Bucket=bucket, Key=key)
            rows.append({"resource": f"dag file {Path(key).name}", "deleted": True})
    logs = cloud.client("logs")
    task_group = mwaa.describe(environment)["LoggingConfiguration"]["TaskLogs"].get("CloudWatchLogGroupArn", "")
    task_group = task_group.split(":log-group:")[-1].removesuffix(":*")
    for dag_id in sorted(d for d in api.dags().dag_id if d in DAG_IDS or d.startswith("observability_exercise")):
        api.wait_for_dag(dag_id, present=False, timeout=120)
        api.delete_dag(dag_id)
        rows.append({"resource": f"dag {dag_id}", "deleted": True})
        if _delete_streams(logs, task_group, f"dag_id={dag_id}/"):
            rows.append({"resource": f"task log streams of {dag_id}", "deleted": True})
    if mwaa.revoke(environment, EXECUTION_POLICY):
        rows.append({"resource": f"execution role policy {EXECUTION_POLICY}", "deleted": True})
    emr = cloud.client("emr")
    for cluster in _clusters():
        if cluster["Status"]["State"] not in ("TERMINATED", "TERMINATED_WITH_ERRORS"):
            emr.terminate_job_flows(JobFlowIds=[cluster["Id"]])
            rows.append({"resource": f"emr cluster {cluster['Id'][:4]}…", "deleted": True})
        for group in log_groups(f"/aws/emr/{cluster['Id']}"):
            logs.delete_log_group(logGroupName=group)
            rows.append({"resource": "emr log group", "deleted": True})
    glue = cloud.client("glue")
    for job in (AGGREGATION_JOB, PIPELINE_JOB):
        for group, stream in _job_run_streams(job):
            try:
                logs.delete_log_stream(logGroupName=group, logStreamName=stream)
                rows.append({"resource": f"glue log stream {group.rsplit('/', 1)[-1]}", "deleted": True})
            except logs.exceptions.ResourceNotFoundException:
                pass
        try:
            glue.delete_job(JobName=job)
            rows.append({"resource": f"glue job {job}", "deleted": True})
        except glue.exceptions.EntityNotFoundException:
            pass
    for database in (CLOUDTRAIL_DB, REPORTS_DB):
        try:
            glue.delete_database(Name=database)
            rows.append({"resource": f"glue database {database}", "deleted": True})
        except glue.exceptions.EntityNotFoundException:
            pass
    if _delete_instance_profile(EMR_EC2_ROLE):
        rows.append({"resource": f"instance profile {EMR_EC2_ROLE}", "deleted": True})
    for role in (GLUE_ROLE, EMR_SERVICE_ROLE, EMR_EC2_ROLE):
        if iam.delete_role(role):
            rows.append({"resource": f"iam role {role}", "deleted": True})
    tagged = cleanup.delete_tagged(NOTEBOOK)
    rows += [{"resource": arn, "deleted": bool(done)} for arn, done in zip(tagged.arn, tagged.deleted, strict=True)]
    return pd.DataFrame(rows, columns=["resource", "deleted"])


def _delete_streams(logs, group: str, prefix: str) -> bool:
    if not group:
        return False
    deleted = False
    for page in logs.get_paginator("describe_log_streams").paginate(logGroupName=group, logStreamNamePrefix=prefix):
        for stream in page["logStreams"]:
            logs.delete_log_stream(logGroupName=group, logStreamName=stream["logStreamName"])
            deleted = True
    return deleted


def leftovers() -> pd.DataFrame:
    """What of notebook 07 still exists: tagged resources, running clusters, jobs, databases, roles, log groups."""
    found = [{"what": "tagged", "name": arn} for arn in tags.tagged_resources(NOTEBOOK).arn]
    glue, api = cloud.client("glue"), cloud.client("iam")
    names = set(glue.list_jobs()["JobNames"])
    found += [{"what": "glue job", "name": job} for job in (AGGREGATION_JOB, PIPELINE_JOB) if job in names]
    databases = {d["Name"] for d in glue.get_databases()["DatabaseList"]}
    found += [{"what": "glue database", "name": d} for d in (CLOUDTRAIL_DB, REPORTS_DB) if d in databases]
    for cluster in _clusters():
        if cluster["Status"]["State"] not in ("TERMINATED", "TERMINATED_WITH_ERRORS", "TERMINATING"):
            found.append({"what": "emr cluster", "name": cluster["Id"]})
        found += [{"what": "log group", "name": g} for g in log_groups(f"/aws/emr/{cluster['Id']}")]
    for role in (GLUE_ROLE, EMR_SERVICE_ROLE, EMR_EC2_ROLE):
        try:
            api.get_role(RoleName=role)
            found.append({"what": "iam role", "name": role})
        except api.exceptions.NoSuchEntityException:
            pass
    return pd.DataFrame(found, columns=["what", "name"])
