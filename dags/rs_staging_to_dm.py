"""TICKIT's star schema from the staging tables: the second DAG of the AWS post "Automate data lineage on Amazon MWAA
with OpenLineage", on Airflow 3.

`create_dm_tables` creates the post's dimensional model in `dm` (a sales fact, an event and a user dimension) and
empties it; three `insert_*` tasks fill it from `staging`. Every statement is one `SQLExecuteQueryOperator`, so the
OpenLineage provider parses the SQL and reports the tables read and written, and for each written column the columns it
comes from (the column-lineage facet). That works when the parser can name every column: each `INSERT` lists its
target columns and each selected expression is a plain or qualified column (an unnamed expression such as
`qtysold * pricepaid` would come out as a made-up column name). Runs on Redshift (AWS) and PostgreSQL (local) alike.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

WAREHOUSE = "warehouse"  # Redshift on AWS, PostgreSQL locally
DM_TABLES = {
    "fact_sales": """salesid integer, listid integer, sellerid integer, buyerid integer, eventid integer, dateid smallint,
        day char(3), month char(5), year smallint, qtysold smallint, pricepaid numeric(8,2), commission numeric(8,2),
        saletime timestamp""",
    "dim_event": """eventid integer, venueid smallint, venuename varchar(100), venuecity varchar(30), venuestate char(2),
        venueseats integer, catid smallint, catgroup varchar(10), catname varchar(10), catdesc varchar(50),
        dateid smallint, day char(3), month char(5), year smallint, eventname varchar(200), starttime timestamp""",
    "dim_users": """userid integer, username char(8), firstname varchar(30), lastname varchar(30), city varchar(30),
        state char(2), email varchar(100), phone char(14), likesports boolean, liketheatre boolean,
        likeconcerts boolean, likejazz boolean, likeclassical boolean, likeopera boolean, likerock boolean,
        likevegas boolean, likebroadway boolean, likemusicals boolean""",
}

with DAG(
    dag_id="rs_staging_to_dm",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["workbook", "lineage"],
    doc_md=__doc__,
) as dag:
    create_dm_tables = SQLExecuteQueryOperator(
        task_id="create_dm_tables",
        conn_id=WAREHOUSE,
        sql=["CREATE SCHEMA IF NOT EXISTS dm"]
            + [f"CREATE TABLE IF NOT EXISTS dm.{table} ({columns})" for table, columns in DM_TABLES.items()]
            + [f"DELETE FROM dm.{table}" for table in DM_TABLES],
    )
    insert_fact_sales = SQLExecuteQueryOperator(
        task_id="insert_fact_sales",
        conn_id=WAREHOUSE,
        sql="""
        INSERT INTO dm.fact_sales (salesid, listid, sellerid, buyerid, eventid, dateid, day, month, year, qtysold,
                                   pricepaid, commission, saletime)
        SELECT sl.salesid, sl.listid, sl.sellerid, sl.buyerid, sl.eventid, sl.dateid, d.day, d.month, d.year,
               sl.qtysold, sl.pricepaid, sl.commission, sl.saletime
        FROM staging.sales sl
        INNER JOIN staging."date" d ON sl.dateid = d.dateid""",
    )
    insert_dim_event = SQLExecuteQueryOperator(
        task_id="insert_dim_event",
        conn_id=WAREHOUSE,
        sql="""
        INSERT INTO dm.dim_event (eventid, venueid, venuename, venuecity, venuestate, venueseats, catid, catgroup,
                                  catname, catdesc, dateid, day, month, year, eventname, starttime)
        SELECT ev.eventid, ev.venueid, v.venuename, v.venuecity, v.venuestate, v.venueseats, ev.catid, cat.catgroup,
               cat.catname, cat.catdesc, ev.dateid, d.day, d.month, d.year, ev.eventname, ev.starttime
        FROM staging.event ev
        INNER JOIN staging."date" d ON ev.dateid = d.dateid
        INNER JOIN staging.category cat ON ev.catid = cat.catid
        INNER JOIN staging.venue v ON ev.venueid = v.venueid""",
    )
    insert_dim_users = SQLExecuteQueryOperator(
        task_id="insert_dim_users",
        conn_id=WAREHOUSE,
        sql="""
        INSERT INTO dm.dim_users (userid, username, firstname, lastname, city, state, email, phone, likesports,
                                  liketheatre, likeconcerts, likejazz, likeclassical, likeopera, likerock, likevegas,
                                  likebroadway, likemusicals)
        SELECT u.userid, u.username, u.firstname, u.lastname, u.city, u.state, u.email, u.phone, u.likesports,
               u.liketheatre, u.likeconcerts, u.likejazz, u.likeclassical, u.likeopera, u.likerock, u.likevegas,
               u.likebroadway, u.likemusicals
        FROM staging.users u""",
    )
    create_dm_tables >> [insert_fact_sales, insert_dim_event, insert_dim_users]
