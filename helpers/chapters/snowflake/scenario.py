"""Scenario 05: Snowflake with MWAA, the article's three DAGs on Airflow 3.

The prerequisites as in the article: the environment's bucket with `dags/` and `dags/mwaa_snowflake_queries/`,
a source bucket of Citi Bike zips (the workbook's sample, standing in for the public `tripdata` bucket), a
destination bucket, the SNS topic `mwaa_snowflake` with a queue subscribed (the notebook reads it instead of an
inbox), the IAM role Snowflake assumes to read the destination bucket, the connection secret, the four Airflow
variables as Secrets Manager secrets, and the environment's secrets backend set to Secrets Manager.

On the local target Snowflake is the local cloud's (fakesnow, emulated); on `aws` it is your Snowflake account,
whose credentials you put in the secret yourself (see `snowflake_account`, which also queries Snowflake directly).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.aws import cleanup, cloud, iam, mwaa, s3
from helpers.aws.tags import resource_name, tag_list, tagged_resources, tags
from helpers.chapters.setup_teardown.secrets_cache import BACKEND, PREFIXES, put_secret
from helpers.chapters.snowflake.account import (
    SECRET,
    drop_snowflake_objects,
    local_connection_secret,
    snowflake_objects,
    snowflake_problem,
)
from helpers.paths import DAGS_DIR

NOTEBOOK = "05_snowflake"
DAG_FILES = {"snowflake_connection_check": "snowflake_connection_check.py",
             "snowflake_initial_setup": "snowflake_initial_setup.py",
             "snowflake_citibike_pipeline": "snowflake_citibike_pipeline.py"}
QUERIES = DAGS_DIR / "mwaa_snowflake_queries"
TOPIC = "mwaa_snowflake"
SNOWFLAKE_ROLE = "mwaa-workbook-05-snowflake-stage-reader"  # the article's "mysnowflakerole"
EXECUTION_POLICY = "mwaa-workbook-05-snowflake"  # added to the environment's execution role
PLACEHOLDER_EXTERNAL_ID = "0000"  # the article's value until DESC INTEGRATION gives the real one


@dataclass(frozen=True)
class Prerequisites:
    environment: str
    dags_bucket: str
    source_bucket: str
    destination_bucket: str
    topic_arn: str
    queue_url: str
    snowflake_role_arn: str


# ---- prerequisites ----

def _topic_with_queue() -> tuple[str, str]:
    """The SNS topic and an SQS queue subscribed to it: the notebook's inbox (the article subscribes an email)."""
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    topic = sns.create_topic(Name=TOPIC, Tags=tag_list(NOTEBOOK))["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"mwaa-workbook-05-{TOPIC}-inbox", tags=tags(NOTEBOOK))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                      "Action": "sqs:SendMessage", "Resource": queue_arn,
                                                      "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]}
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    if not any(s["Endpoint"] == queue_arn for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url


def snowflake_trust(principal: str, external_id: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": principal},
                                                    "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]}


def snowflake_role_policy(bucket: str) -> dict:
    """What Snowflake may do in the destination bucket through the stage: read the loaded files, nothing else."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": f"arn:aws:s3:::{bucket}"}]}


def execution_policy(prereq: Prerequisites) -> dict:
    """What the DAGs need beyond the MWAA execution role's basics (the article's S3ReadWrite and SNSPublishOnly)."""
    region, account = cloud.settings().region, cloud.account_id()
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{b}{suffix}" for b in (prereq.source_bucket, prereq.destination_bucket) for suffix in ("", "/*")]},
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
         "Resource": [f"arn:aws:secretsmanager:{region}:{account}:secret:{prefix}/*" for prefix in PREFIXES.values()]},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": prereq.topic_arn}]}


def variables(prereq: Prerequisites) -> dict[str, str]:
    """The article's four Airflow variables."""
    return {"aws_role_arn": prereq.snowflake_role_arn, "destination_bucket": prereq.destination_bucket,
            "target_sns_arn": prereq.topic_arn, "sec_key_region": cloud.settings().region}


def create_prerequisites(environment: str) -> Prerequisites:
    """Everything the three DAGs need in AWS; re-running updates in place. Locally also the connection secret."""
    from helpers.samples import citibike as sample_citibike

    dags_bucket, _ = mwaa.source_bucket(environment)
    source, destination = resource_name(NOTEBOOK, "tripdata"), resource_name(NOTEBOOK, "destination")
    for bucket in (source, destination):
        s3.create_bucket(bucket, NOTEBOOK)
    for path in sorted(sample_citibike.FOLDER.glob("*.zip")):
        s3.upload_file(path, source, path.name)  # at the top, as in the public tripdata bucket
    topic, queue_url = _topic_with_queue()
    account = cloud.account_id()
    role_arn = iam.create_role(SNOWFLAKE_ROLE, NOTEBOOK, snowflake_trust(f"arn:aws:iam::{account}:root", PLACEHOLDER_EXTERNAL_ID),
                               snowflake_role_policy(destination), "Assumed by Snowflake's storage integration to read the stage")
    prereq = Prerequisites(environment, dags_bucket, source, destination, topic, queue_url, role_arn)
    if cloud.settings().is_local:
        put_secret(SECRET, json.dumps(local_connection_secret()), NOTEBOOK)
    for key, value in variables(prereq).items():
        put_secret(f"{PREFIXES['variables_prefix']}/{key}", value, NOTEBOOK)
    mwaa.grant(environment, EXECUTION_POLICY, execution_policy(prereq))
    return prereq


def secrets_backend_options(current: dict[str, str]) -> dict[str, str]:
    """The environment's configuration options with the article's secrets backend (others kept)."""
    return {**current, "secrets.backend": BACKEND, "secrets.backend_kwargs": json.dumps(PREFIXES)}


def environment(timeout: float = 3600) -> str:
    """The workshop environment with the secrets backend set: created with it when missing (no update needed then)."""
    name = mwaa.WORKSHOP_ENVIRONMENT
    if cloud.settings().mwaa_environment or mwaa.status(name) is not None:
        name = mwaa.workshop_environment(timeout)  # an existing one: configured below if needed
    else:
        mwaa.create_environment(mwaa.environment_request(name, mwaa.workshop_prerequisites(), mwaa.WORKSHOP,
                                                         AirflowConfigurationOptions=secrets_backend_options({})))
        mwaa.wait_for_status(name, "AVAILABLE", timeout)
    configure_secrets_backend(name, timeout)
    return name


def configure_secrets_backend(environment: str, timeout: float = 3600) -> bool:
    """Set the secrets backend on the environment (an update restarts Airflow). False if it was already set."""
    current = mwaa.describe(environment).get("AirflowConfigurationOptions") or {}
    wanted = secrets_backend_options(current)
    if current == wanted:
        return False
    mwaa.client().update_environment(Name=environment, AirflowConfigurationOptions=wanted)
    mwaa.wait_for_status(environment, "AVAILABLE", timeout)
    return True


def deploy_dags(prereq: Prerequisites, timeout: float = 120) -> list[str]:
    """The three DAG files to dags/ and their SQL to dags/mwaa_snowflake_queries/; waits until Airflow lists the DAGs."""
    bucket, prefix = mwaa.source_bucket(prereq.environment)
    keys = [s3.upload_dag(bucket, name, prefix) for name in DAG_FILES.values()]
    keys += [s3.upload_file(sql, bucket, f"{prefix}{QUERIES.name}/{sql.name}") for sql in sorted(QUERIES.glob("*.sql"))]
    api = mwaa.AirflowApi(prereq.environment)
    for dag_id in DAG_FILES:
        api.wait_for_dag(dag_id, timeout=timeout)
    return keys


# ---- after DAG 2 ----

def storage_identity(environment: str, run_id: str) -> dict[str, str]:
    """STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID, from DAG 2's XCom."""
    return mwaa.AirflowApi(environment).xcom("snowflake_initial_setup", run_id, "storage_integration_identity")


def trust_snowflake(identity: dict[str, str]) -> dict:
    """The article's trust-relationship edit: the role trusts Snowflake's IAM user with the integration's external ID."""
    trust = snowflake_trust(identity["STORAGE_AWS_IAM_USER_ARN"], identity["STORAGE_AWS_EXTERNAL_ID"])
    cloud.client("iam").update_assume_role_policy(RoleName=SNOWFLAKE_ROLE, PolicyDocument=json.dumps(trust))
    return trust


# ---- after DAG 3 ----

def top_stations(environment: str, run_id: str) -> pd.DataFrame:
    """DAG 3's result from XCom: direction (start/end), station_name, rides."""
    records = mwaa.AirflowApi(environment).xcom("snowflake_citibike_pipeline", run_id, "top_stations")
    return pd.DataFrame(records, columns=["direction", "station_name", "rides"])


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
    """Delete what the scenario made: the Snowflake objects (where reachable), the DAGs and their SQL in the environment,
    the execution role's extra policy, and every AWS resource tagged for this notebook. Returns what was deleted."""
    if snowflake_problem() is None:
        drop_snowflake_objects()
    bucket, prefix = mwaa.source_bucket(environment)
    api = mwaa.AirflowApi(environment)
    for dag_id, name in DAG_FILES.items():
        cloud.client("s3").delete_object(Bucket=bucket, Key=f"{prefix}{name}")
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


def top_stations_chart(frame: pd.DataFrame) -> Path:
    """Bar charts of the top start and end stations (saved under build/plots/)."""
    from helpers.tooling import charts

    return charts.ranked_bars(frame, "direction", "station_name", "rides", "Top Citi Bike stations (rides)", f"{NOTEBOOK}-top-stations")
