"""DAG 2 of the Snowflake scenario: the Snowflake objects the pipeline needs, and the identities for IAM.

Creates warehouse dev_wh, database mwaa_db, schema mwaa_schema, storage integration mwaa_citibike_storage_int
(Snowflake's way into the destination bucket, through the IAM role in variable `aws_role_arn`) and stage
mwaa_citibike_stg on that bucket. Then DESC INTEGRATION: its STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID
go to XCom, for the IAM role's trust relationship (the step the article does by hand in a worksheet).
Every statement can run again: a re-run changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import chain, dag, task

SNOWFLAKE_CONN_ID = "snowflake_accountadmin"  # resolved from the secret airflow/connections/snowflake_accountadmin
# The article's object names (the three DAG files each name what they use; a unit test keeps them in step).
SNOWFLAKE_OBJECTS = {
    "warehouse_name": "dev_wh",
    "database_name": "mwaa_db",
    "schema_name": "mwaa_schema",
    "storage_int_name": "mwaa_citibike_storage_int",
    "stage_name": "mwaa_citibike_stg",
    "stage_prefix": "citibike/",  # the stage's folder in the destination bucket: the unzipped CSV parts, nothing else
    "table_name": "citibike_tbl",
    "view_name": "citibike_vw",
}
# A refused connection fails in seconds ("Could not connect to Snowflake backend"); a Snowflake that answers with
# server errors, or not at all, the connector retries for minutes: the timeout bounds that.
SNOWFLAKE_TASK_ARGS = {"retries": 1, "retry_delay": timedelta(seconds=20), "execution_timeout": timedelta(minutes=4)}
IDENTITY_PROPERTIES = ("STORAGE_AWS_IAM_USER_ARN", "STORAGE_AWS_EXTERNAL_ID")  # what the IAM role's trust relationship names


def _sql(name: str) -> SQLExecuteQueryOperator:
    return SQLExecuteQueryOperator(task_id=name, conn_id=SNOWFLAKE_CONN_ID, sql=f"mwaa_snowflake_queries/{name}.sql",
                                   params=SNOWFLAKE_OBJECTS, **SNOWFLAKE_TASK_ARGS)


@dag(
    dag_id="snowflake_initial_setup",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "snowflake", "citibike", "DAG2"],
    doc_md=__doc__,
)
def snowflake_initial_setup():
    @task
    def storage_integration_identity(rows: list) -> dict:
        """The two DESC INTEGRATION properties the IAM role's trust relationship needs."""
        properties = {row[0].upper(): row[2] for row in rows}
        identity = {name: properties[name] for name in IDENTITY_PROPERTIES}
        for name, value in identity.items():
            print(f"{name}: {value}")
        return identity

    describe = _sql("describe_storage_int")
    chain(_sql("create_warehouse"), _sql("create_database"), _sql("create_schema"), _sql("create_storage_int"),
          _sql("create_stage"), describe, storage_integration_identity(describe.output))


snowflake_initial_setup()
