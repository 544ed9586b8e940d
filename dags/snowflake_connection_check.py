"""DAG 1 of the Snowflake scenario: the Snowflake connection, resolved from Secrets Manager by the secrets backend.

The article's DAG read the secret itself and wrote a Connection row into the metadata database. Airflow 3 workers
may not touch that database; instead the environment's secrets backend (`secrets.backend`, set in the MWAA
configuration options) resolves conn id `snowflake_accountadmin` from the secret
`airflow/connections/snowflake_accountadmin` whenever a task asks for it. Nothing is written anywhere.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import dag, task

SNOWFLAKE_CONN_ID = "snowflake_accountadmin"


@dag(
    dag_id="snowflake_connection_check",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "snowflake", "citibike", "DAG1"],
    default_args={"retries": 0},
    doc_md=__doc__,
)
def snowflake_connection_check():
    @task
    def show_connection(secret_region: str) -> dict:
        """Where the connection came from and what it holds; the password only as set or not."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
        from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

        conn = SnowflakeHook(snowflake_conn_id=SNOWFLAKE_CONN_ID).get_connection(SNOWFLAKE_CONN_ID)
        extra = conn.extra_dejson
        secret = AwsBaseHook(aws_conn_id="aws_default", client_type="secretsmanager", region_name=secret_region).get_conn() \
            .describe_secret(SecretId=f"airflow/connections/{SNOWFLAKE_CONN_ID}")
        summary = {
            "conn_id": SNOWFLAKE_CONN_ID, "conn_type": conn.conn_type, "secret_arn": secret["ARN"],
            "account": extra.get("account"), "host": extra.get("host") or f"{extra.get('account')}.snowflakecomputing.com",
            "user": conn.login, "password": "set (not shown)" if conn.password else "missing",
            "role": extra.get("role"), "warehouse": extra.get("warehouse"), "database": extra.get("database"), "schema": conn.schema,
        }
        for key, value in summary.items():
            print(f"{key}: {value}")
        return summary

    test_snowflake_connection = SQLExecuteQueryOperator(
        task_id="test_snowflake_connection",
        conn_id=SNOWFLAKE_CONN_ID,
        sql="mwaa_snowflake_queries/test_connection.sql",
        # A refused connection fails in seconds; server errors the connector retries for minutes: this bounds them.
        execution_timeout=timedelta(minutes=4),
    )

    show_connection("{{ var.value.sec_key_region }}") >> test_snowflake_connection


snowflake_connection_check()
