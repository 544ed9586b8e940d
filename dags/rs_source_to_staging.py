"""TICKIT from the data lake into the warehouse's staging schema: the first DAG of the AWS post "Automate data lineage
on Amazon MWAA with OpenLineage", on Airflow 3.

`create_staging_tables` creates the seven TICKIT tables in `staging` and empties them (a re-run loads afresh);
one `load_<table>` task per table then reads the table's pipe-delimited file from S3 and inserts its rows. The
warehouse is the connection `warehouse`: Amazon Redshift on AWS, PostgreSQL locally. The SQL is written in what both
accept: no DISTKEY/SORTKEY (Redshift's physical design, which PostgreSQL rejects), `"date"` quoted (a reserved word in
both), `DELETE` rather than `TRUNCATE` (which commits at once on Redshift).

The post's DAG read the files through a Redshift Spectrum external schema (`INSERT ... SELECT ... FROM s3_datalake.x`);
on Redshift a load is usually `COPY ... FROM 's3://...'`. Neither reaches OpenLineage's lineage: Spectrum needs
Redshift, and `COPY` is not parsed. So the load here is a small operator that says what it read and wrote, through
`get_openlineage_facets_on_complete`, the method the OpenLineage provider calls on any operator: the lineage of the
loads is declared, not guessed.
"""

from __future__ import annotations

import csv
import io

import pendulum
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, BaseHook, BaseOperator, Param

WAREHOUSE = "warehouse"  # Redshift on AWS, PostgreSQL locally
FILES = {"users": "allusers_pipe.txt", "venue": "venue_pipe.txt", "category": "category_pipe.txt",
         "date": "date2008_pipe.txt", "event": "allevents_pipe.txt", "listing": "listings_pipe.txt",
         "sales": "sales_pipe.txt"}
TABLES = {
    "users": """userid integer not null, username char(8), firstname varchar(30), lastname varchar(30),
        city varchar(30), state char(2), email varchar(100), phone char(14), likesports boolean,
        liketheatre boolean, likeconcerts boolean, likejazz boolean, likeclassical boolean, likeopera boolean,
        likerock boolean, likevegas boolean, likebroadway boolean, likemusicals boolean""",
    "venue": "venueid smallint not null, venuename varchar(100), venuecity varchar(30), venuestate char(2), venueseats integer",
    "category": "catid smallint not null, catgroup varchar(10), catname varchar(10), catdesc varchar(50)",
    "date": """dateid smallint not null, caldate date not null, day char(3) not null, week smallint not null,
        month char(5) not null, qtr char(5) not null, year smallint not null, holiday boolean""",
    "event": """eventid integer not null, venueid smallint not null, catid smallint not null, dateid smallint not null,
        eventname varchar(200), starttime timestamp""",
    "listing": """listid integer not null, sellerid integer not null, eventid integer not null, dateid smallint not null,
        numtickets smallint not null, priceperticket decimal(8,2), totalprice decimal(8,2), listtime timestamp""",
    "sales": """salesid integer not null, listid integer not null, sellerid integer not null, buyerid integer not null,
        eventid integer not null, dateid smallint not null, qtysold smallint not null, pricepaid decimal(8,2),
        commission decimal(8,2), saletime timestamp""",
}


class S3ToWarehouseOperator(BaseOperator):
    """Insert the rows of one pipe-delimited S3 file (empty field: NULL) into a warehouse table, and report both to
    OpenLineage."""

    template_fields = ("bucket", "key")

    def __init__(self, *, bucket: str, key: str, table: str, conn_id: str = WAREHOUSE, **kwargs):
        super().__init__(**kwargs)
        self.bucket, self.key, self.table, self.conn_id = bucket, key, table, conn_id

    def execute(self, context) -> int:
        text = S3Hook().read_key(key=self.key, bucket_name=self.bucket)
        rows = [[value or None for value in row] for row in csv.reader(io.StringIO(text), delimiter="|")]
        BaseHook.get_connection(self.conn_id).get_hook().insert_rows(self.table, rows, commit_every=1000)
        self.log.info("Loaded %d rows from s3://%s/%s into %s", len(rows), self.bucket, self.key, self.table)
        return len(rows)

    def get_openlineage_facets_on_complete(self, task_instance):
        # Called by the OpenLineage provider after `execute`: the datasets named as the SQL parser names them
        # (namespace `postgres://host:port` or `redshift://cluster.region:port`, name `database.schema.table`), so
        # the loads and the SQL tasks meet at the same staging tables.
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.event_v2 import Dataset

        connection = BaseHook.get_connection(self.conn_id)
        database = connection.get_hook().get_openlineage_database_info(connection)
        return OperatorLineage(
            inputs=[Dataset(namespace=f"s3://{self.bucket}", name=self.key)],
            outputs=[Dataset(namespace=f"{database.scheme}://{database.authority}", name=f"{database.database}.{self.table}")],
        )


with DAG(
    dag_id="rs_source_to_staging",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["workbook", "lineage"],
    params={"bucket": Param("", type="string", minLength=3, description="Bucket holding the TICKIT files."),
            "prefix": Param("tickit", type="string", description="Folder of the files: <prefix>/<table>/<file>.")},
    doc_md=__doc__,
) as dag:
    create_staging_tables = SQLExecuteQueryOperator(
        task_id="create_staging_tables",
        conn_id=WAREHOUSE,
        sql=["CREATE SCHEMA IF NOT EXISTS staging"]
            + [f'CREATE TABLE IF NOT EXISTS staging."{table}" ({columns})' for table, columns in TABLES.items()]
            + [f'DELETE FROM staging."{table}"' for table in TABLES],
    )
    for table, file in FILES.items():
        create_staging_tables >> S3ToWarehouseOperator(
            task_id=f"load_{table}",
            bucket="{{ params.bucket }}",
            key=f"{{{{ params.prefix }}}}/{table}/{file}",
            table=f"staging.{table}",
        )
