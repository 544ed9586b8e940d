"""What an environment's requirements.txt, plugins.zip and startup script give its tasks (notebook 10).

Each task imports or reads one of them at run time, not at the top of the file: the DAG must parse (and be listed)
on an environment that lacks them, so a missing package shows as a failed task with its reason, not as an import
error that hides the whole DAG. Deployable to MWAA unchanged.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="environment_check",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["workbook", "operations"],
    params={"package": Param("emoji", type="string", description="A package requirements.txt installs.")},
    doc_md=__doc__,
)
def environment_check():
    @task
    def from_requirements(params=None) -> dict:
        from importlib import import_module
        from importlib.metadata import version

        module = import_module(params["package"])  # installed by requirements.txt
        return {"package": params["package"], "version": version(params["package"]), "from": os.path.dirname(module.__file__)}

    @task
    def from_plugins() -> str:
        from workbook_ops.naming import table_name  # a module shipped in plugins.zip (the plugins folder is on sys.path)

        return table_name("Daily Sales", "2026-01-31")

    @task
    def worker_environment() -> dict:
        # WORKBOOK_STAGE: exported by the startup script for workers only; PYTHONPATH: reserved, the script's change is ignored
        # "" rather than None for an unset variable: Airflow 3.0.6's Execution API refused an XCom dict holding a null
        return {name: os.environ.get(name, "") for name in ("WORKBOOK_STAGE", "PYTHONPATH")}

    @task
    def airflow_version() -> str:
        from airflow import __version__

        return __version__

    [from_requirements(), from_plugins(), worker_environment(), airflow_version()]


environment_check()
