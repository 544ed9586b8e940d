"""Setup/teardown with classic operators and `.as_teardown(setups=...)`: a nested pair and a parallel pair.

    create_cluster ─────────────────────────────────────────────── delete_cluster   (outer pair)
        create_table ── load_table ── query_table ── drop_table                      (inner pair, nested)
        create_cache ── warm_cache ── drop_cache                                     (parallel pair)

Teardowns run even when the work fails; an inner teardown runs before the outer one. Nothing here touches
a cloud: each step just records itself, so the notebook can read the order from the task instances.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import dag


def step(name: str):
    def run():
        print(f"{name} done")
        return name

    return PythonOperator(task_id=name, python_callable=run)


@dag(
    dag_id="nested_setup_teardown",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "setup-teardown"],
    doc_md=__doc__,
)
def nested_setup_teardown():
    create_cluster, delete_cluster = step("create_cluster"), step("delete_cluster")
    create_table, load_table, query_table, drop_table = (step(n) for n in ("create_table", "load_table", "query_table",
                                                                           "drop_table"))
    create_cache, warm_cache, drop_cache = step("create_cache"), step("warm_cache"), step("drop_cache")

    create_cluster >> [create_table, create_cache]
    create_table >> load_table >> query_table >> drop_table.as_teardown(setups=create_table)
    create_cache >> warm_cache >> drop_cache.as_teardown(setups=create_cache)
    [drop_table, drop_cache] >> delete_cluster.as_teardown(setups=create_cluster)


nested_setup_teardown()
