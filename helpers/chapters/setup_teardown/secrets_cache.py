"""Measure what Airflow's secrets cache saves: GetSecretValue calls caused by a top-level Variable.get.

An environment with the Secrets Manager backend parses sample_data/antipatterns/top_level_variable.py over and
over (every `parse_interval` seconds, as MWAA does every 30 s); the calls the secrets service receives are
counted over a window, with `secrets.use_cache` off and then on. On the local cloud the gateway counts the calls
(`localcloud.api_calls`); on AWS, read them from CloudTrail instead.
"""

from __future__ import annotations

import json
import math
import time

import pandas as pd

from helpers import localcloud
from helpers.aws import cloud, mwaa
from helpers.paths import SAMPLE_DATA_DIR

ANTIPATTERN = SAMPLE_DATA_DIR / "antipatterns" / "top_level_variable.py"
DAG_ID = "top_level_variable"
VARIABLE = "workbook_bucket"
BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
PREFIXES = {"connections_prefix": "airflow/connections", "variables_prefix": "airflow/variables"}


def options(use_cache: bool, ttl: int, parse_interval: int) -> dict[str, str]:
    """The AirflowConfigurationOptions that set the secrets backend (as on MWAA) and the cache."""
    return {"secrets.backend": BACKEND, "secrets.backend_kwargs": json.dumps(PREFIXES),
            "secrets.use_cache": str(use_cache), "secrets.cache_ttl_seconds": str(ttl),
            "dag_processor.min_file_process_interval": str(parse_interval)}


def put_secret(name: str, value: str, notebook: str) -> str:
    """Create a secret tagged for `notebook`, or give an existing one this value. Returns the secret name."""
    from helpers.aws.tags import tag_list

    sm = cloud.client("secretsmanager")
    try:
        sm.create_secret(Name=name, SecretString=value, Tags=tag_list(notebook))
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=value)
    return name


def store_variable(value: str, notebook: str) -> str:
    """The variable as a Secrets Manager secret under the backend's prefix. Returns the secret name."""
    return put_secret(f"{PREFIXES['variables_prefix']}/{VARIABLE}", value, notebook)


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


def measure(environment: str, use_cache: bool, ttl: int, parse_interval: int, window: float) -> pd.DataFrame:
    """Configure the environment (an update restarts Airflow, so only when needed), then count the calls."""
    wanted = options(use_cache, ttl, parse_interval)
    if mwaa.describe(environment)["AirflowConfigurationOptions"] != wanted:
        mwaa.client().update_environment(Name=environment, AirflowConfigurationOptions=wanted)
    mwaa.wait_for_status(environment, "AVAILABLE", timeout=600)
    mwaa.AirflowApi(environment).wait_for_dag(DAG_ID, timeout=120)
    frame = count_calls(window)
    frame["use_cache"] = use_cache
    return frame


def allowed_calls(window: float, ttl: int) -> int:
    """At most one call per TTL period that the window touches."""
    return math.ceil(window / ttl) + 1
