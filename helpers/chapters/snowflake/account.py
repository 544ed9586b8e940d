"""The Snowflake account the DAGs reach, seen from the notebook: the connection secret and a connector session.

The DAGs get the connection `snowflake_accountadmin` from the secret airflow/connections/snowflake_accountadmin
through Airflow's secrets backend. Locally it points at the local cloud's Snowflake (fakesnow, emulated, any
user and password); on AWS you put your account in it yourself, and `snowflake_ready` says whether it is usable.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from contextlib import contextmanager

import botocore.exceptions
import pandas as pd

from helpers import localcloud
from helpers.aws import cloud
from helpers.chapters.setup_teardown.secrets_cache import PREFIXES
from helpers.errors import WorkbookError

CONN_ID = "snowflake_accountadmin"
SECRET = f"{PREFIXES['connections_prefix']}/{CONN_ID}"
# What DAG 2 creates (the DAG files name them too; a unit test keeps both in step).
DATABASE, SCHEMA, WAREHOUSE, INTEGRATION = "mwaa_db", "mwaa_schema", "dev_wh", "mwaa_citibike_storage_int"


def connection_secret(account: str, user: str, password: str, host: str | None = None, port: int | None = None) -> dict:
    """The secret's value in Airflow's connection JSON form.

    The article's secret is flat ({"host", "account", "user", "password", "schema", "database", "role",
    "warehouse"}); Airflow's Secrets Manager backend keeps only login, password, host, port and schema from such
    a secret, and the Snowflake hook needs account, database, role and warehouse, which belong under "extra".
    The hook reads host and port from "extra" too (set only to reach something other than <account>.snowflakecomputing.com).
    """
    extra = {"account": account, "database": DATABASE, "role": "accountadmin", "warehouse": WAREHOUSE}
    extra.update({k: v for k, v in (("host", host), ("port", port)) if v})
    return {"conn_type": "snowflake", "login": user, "password": password, "schema": SCHEMA, "extra": extra}


def workbook_provides_snowflake() -> bool:
    """True where the workbook writes the connection secret itself: locally, to the local cloud's Snowflake. On AWS
    the secret holds your own account: you create it, and the notebook leaves it as it is."""
    return cloud.settings().is_local


def identity_line(identity: dict) -> str:
    """The Snowflake-side IAM user a storage integration acts as (`DESC INTEGRATION`), emulated locally."""
    user = identity["STORAGE_AWS_IAM_USER_ARN"].rsplit("/", 1)[-1]
    return f"Snowflake identity{' (emulated)' if cloud.settings().is_local else ''}: {user}"


def local_endpoint() -> dict:
    """Where the local cloud's Snowflake listens, as the connection's extra `host` and `port`."""
    return {"host": localcloud.exports()["WORKBOOK_SNOWFLAKE_HOST"], "port": localcloud.require("snowflake").port}


def local_connection_secret() -> dict:
    """The connection to the local cloud's Snowflake (fakesnow accepts any user and password)."""
    return connection_secret("workbook_local", "learner", secrets.token_urlsafe(12), **local_endpoint())


_PLACEHOLDER = re.compile(r"<<|\*\*\*|^x+$|^$")


def secret_problem(value: dict) -> str | None:
    """Why a connection secret cannot reach a Snowflake account, or None."""
    extra = value.get("extra") if isinstance(value.get("extra"), dict) else {}
    if not extra.get("account"):
        return ("it is not in Airflow's connection form: put account, database, role and warehouse under \"extra\" "
                "(see snowflake_account.connection_secret)")
    for key in ("login", "password"):
        if _PLACEHOLDER.search(str(value.get(key) or "")):
            return f"its {key} is missing or a placeholder"
    return None


def _secret_value() -> dict | None:
    try:
        raw = cloud.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"]
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def snowflake_problem() -> str | None:
    """Why the DAGs cannot reach Snowflake, or None: locally the local cloud's Snowflake; on AWS the secret's account."""
    if cloud.settings().is_local:
        localcloud.require("snowflake")
        return None
    value = _secret_value()
    if value is None:
        return f"there is no secret {SECRET} with your Snowflake account: create it (see snowflake_account.connection_secret)"
    problem = secret_problem(value)
    return f"the secret {SECRET} cannot reach Snowflake: {problem}" if problem else None


def snowflake_ready() -> bool:
    """True where the DAGs can reach Snowflake. Otherwise says why in one line, so the notebook can stop cleanly."""
    problem = snowflake_problem()
    if problem:
        print(f"target=aws: {problem}. The Snowflake steps stop here.")
    return problem is None


def require_snowflake() -> None:
    """Stop the notebook cleanly (one line, reported as `stopped`) where the DAGs cannot reach Snowflake."""
    from helpers.errors import NotebookStopped

    problem = snowflake_problem()
    if problem:
        raise NotebookStopped(f"target=aws: {problem}. Nothing was created; the Snowflake steps stop here.")


@contextmanager
def snowflake_connection():
    """A connector session with the secret's connection (for checks and clean-up outside the DAGs)."""
    import snowflake.connector

    value = _secret_value()
    if value is None and cloud.settings().is_local:
        value = local_connection_secret()  # the secret is gone (cleaned up); the local Snowflake is still there
    if not value or secret_problem(value):
        raise WorkbookError(snowflake_problem() or f"The secret {SECRET} cannot reach Snowflake: fix it and re-run.")
    extra = value["extra"]
    kwargs = {"user": value["login"], "password": value["password"], "account": extra["account"], "role": extra.get("role"),
              "warehouse": extra.get("warehouse"), "login_timeout": 30, "network_timeout": 60}
    kwargs.update({k: extra[k] for k in ("host", "port") if extra.get(k)})
    trust = localcloud.exports() if cloud.settings().is_local else {}
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    if "REQUESTS_CA_BUNDLE" in trust:  # the local Snowflake's certificate, for this session only
        os.environ["REQUESTS_CA_BUNDLE"] = trust["REQUESTS_CA_BUNDLE"]
    try:
        with snowflake.connector.connect(**kwargs) as conn:
            yield conn
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved


def connection_password() -> str:
    """The connection's password, for checking that no log shows it. Never print it."""
    return str((_secret_value() or {}).get("password") or "")


def table_rows() -> int:
    with snowflake_connection() as conn:
        return conn.cursor().execute(f"SELECT COUNT(*) FROM {DATABASE}.{SCHEMA}.citibike_tbl").fetchone()[0]


def snowflake_objects() -> pd.DataFrame:
    """What DAG 2 created that is still there: the database and the storage integration (kind, name)."""
    with snowflake_connection() as conn:
        cur = conn.cursor()
        rows = [("database", r[1]) for r in cur.execute(f"SHOW DATABASES LIKE '{DATABASE.upper()}'").fetchall()]
        rows += [("integration", r[0]) for r in cur.execute(f"SHOW INTEGRATIONS LIKE '{INTEGRATION.upper()}'").fetchall()]
    return pd.DataFrame(rows, columns=["kind", "name"])


def drop_snowflake_objects() -> list[str]:
    """Drop what DAG 2 created, as the article's clean-up does: the database (with its schema, stage, table and view)
    and the storage integration. The warehouse stays: it may be yours from before, and suspended it costs nothing."""
    statements = [f"DROP DATABASE IF EXISTS {DATABASE} CASCADE", f"DROP INTEGRATION IF EXISTS {INTEGRATION}"]
    with snowflake_connection() as conn:
        for statement in statements:
            conn.cursor().execute(statement)
    return statements
