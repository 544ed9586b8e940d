"""Measure what Airflow's secrets cache saves: GetSecretValue calls caused by a top-level Variable.get.

Notebook 04 configures an environment with the Secrets Manager backend (its AirflowConfigurationOptions are in the
notebook) that parses sample_data/antipatterns/top_level_variable.py over and over; this module counts the calls
the secrets service receives over a window. On the local cloud the gateway counts them (`localcloud.api_calls`);
on AWS, read them from CloudTrail instead.
"""

from __future__ import annotations

import math
import time

import pandas as pd

from helpers import localcloud
from helpers.aws import cloud
from helpers.paths import SAMPLE_DATA_DIR

ANTIPATTERN = SAMPLE_DATA_DIR / "antipatterns" / "top_level_variable.py"
BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
PREFIXES = {"connections_prefix": "airflow/connections", "variables_prefix": "airflow/variables"}


def put_secret(name: str, value: str, notebook: str) -> str:
    """Create a secret tagged for `notebook`, or give an existing one this value. Returns the secret name."""
    from helpers.aws.tags import tag_list

    sm = cloud.client("secretsmanager")
    try:
        sm.create_secret(Name=name, SecretString=value, Tags=tag_list(notebook))
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=value)
    return name


def call_counter_available() -> bool:
    """Whether GetSecretValue calls can be counted here (the local cloud's gateway counts them). Says so in one line,
    and on AWS what to use instead, so the notebook skips the counting steps without creating anything."""
    if cloud.settings().is_local:
        print("GetSecretValue calls are counted by the local cloud's gateway")
        return True
    print("target=aws: step 7 skipped, nothing created. On AWS, count GetSecretValue calls with CloudTrail instead: "
          "lookup_events(LookupAttributes=[{'AttributeKey': 'EventName', 'AttributeValue': 'GetSecretValue'}]) "
          "for the execution role, about 5 minutes after the calls.")
    return False


def count_calls(window: float, sample_every: float = 2.0) -> pd.DataFrame:
    """GetSecretValue calls over a window, cumulative, sampled every few seconds."""
    if not cloud.settings().is_local:
        from helpers.errors import WorkbookError

        raise WorkbookError("Counting API calls needs the local cloud; on AWS, count GetSecretValue events in CloudTrail.")
    localcloud.api_calls(reset=True)
    rows, started = [], time.monotonic()
    while (elapsed := time.monotonic() - started) <= window:
        rows.append({"seconds": round(elapsed, 1), "calls": localcloud.api_calls().get("secretsmanager:GetSecretValue", 0)})
        time.sleep(sample_every)
    return pd.DataFrame(rows)


def allowed_calls(window: float, ttl: int) -> int:
    """At most one call per TTL period that the window touches."""
    return math.ceil(window / ttl) + 1
