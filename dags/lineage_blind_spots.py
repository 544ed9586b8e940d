"""Where OpenLineage's automatic lineage goes blind: three tasks that work, and whose lineage is wrong or missing.

- `python_load`: a load written as plain Python (read the S3 file, insert the rows). No SQL reaches the parser; what
  the hooks record is the file downloaded and the temporary copy it was written to, not the table filled.
- `unnamed_expression`: `CREATE TABLE ... AS SELECT eventid, sum(qtysold * pricepaid) ...`. The table and its inputs
  are found, but the computed column has no name in the SQL, so its column lineage is filed under one the parser
  makes up, not the one the table has.
- `dynamic_sql`: the statement is built inside the database (`EXECUTE` in a stored procedure). The parser sees only a
  string: no input, no output.

`rs_source_to_staging` and `rs_staging_to_dm` show the fixes: an operator that declares what it read and wrote,
named columns, SQL the parser can read.
"""

from __future__ import annotations

import csv

import pendulum
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, BaseHook, Param, task

WAREHOUSE = "warehouse"

with DAG(
    dag_id="lineage_blind_spots",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "lineage"],
    params={"bucket": Param("", type="string", minLength=3, description="Bucket holding the TICKIT files."),
            "prefix": Param("tickit", type="string", description="Folder of the files.")},
    doc_md=__doc__,
) as dag:
    @task
    def python_load(params=None) -> int:
        path = S3Hook().download_file(key=f"{params['prefix']}/category/category_pipe.txt", bucket_name=params["bucket"])
        with open(path) as file:
            rows = [[value or None for value in row] for row in csv.reader(file, delimiter="|")]
        hook = BaseHook.get_connection(WAREHOUSE).get_hook()
        hook.run(["CREATE TABLE IF NOT EXISTS staging.category_copy (LIKE staging.category)", "DELETE FROM staging.category_copy"])
        hook.insert_rows("staging.category_copy", rows)
        return len(rows)

    unnamed_expression = SQLExecuteQueryOperator(
        task_id="unnamed_expression",
        conn_id=WAREHOUSE,
        sql=["DROP TABLE IF EXISTS dm.event_revenue",
             "CREATE TABLE dm.event_revenue AS SELECT eventid, sum(qtysold * pricepaid) FROM staging.sales GROUP BY eventid"],
    )
    dynamic_sql = SQLExecuteQueryOperator(
        task_id="dynamic_sql",
        conn_id=WAREHOUSE,
        sql=["""CREATE OR REPLACE PROCEDURE dm.purge(table_name varchar) AS $$
                BEGIN
                  EXECUTE 'DELETE FROM dm.' || table_name || ' WHERE eventid < 0';
                END;
                $$ LANGUAGE plpgsql""",
             "CALL dm.purge('event_revenue')"],  # a stored procedure: the same SQL on Redshift and PostgreSQL
    )
    python_load() >> unnamed_expression >> dynamic_sql
