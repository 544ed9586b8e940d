from __future__ import annotations

import pytest

from helpers.dagtools import airflow_local
from helpers.errors import WorkbookError

LOG = """\
2026-01-01T00:00:00Z [info] [DAG TEST] starting task_id=a map_index=-1 [x]
2026-01-01T00:00:01Z [info] Task started
hello from a
2026-01-01T00:00:02Z [info] [DAG TEST] end task task_id=a map_index=-1 [x]
2026-01-01T00:00:02Z [info] between tasks
2026-01-01T00:00:03Z [info] [DAG TEST] starting task_id=b map_index=-1 [x]
from b
2026-01-01T00:00:04Z [info] [DAG TEST] end task task_id=b map_index=-1 [x]
"""


def test_split_task_logs_cuts_at_the_markers():
    logs = airflow_local.split_task_logs(LOG)
    assert sorted(logs) == ["a", "b"]
    assert "hello from a" in logs["a"] and "from b" not in logs["a"] and "between tasks" not in logs["a"]


def test_run_dag_rejects_files_outside_dags(fresh_state):
    with pytest.raises(WorkbookError, match=r"No DAG file '../helpers/aws/cloud.py' in dags/"):
        airflow_local.run_dag("../helpers/aws/cloud.py")
    with pytest.raises(WorkbookError, match=r"pick one of \[.*'hello_mwaa.py'"):
        airflow_local.run_dag("nope.py")


def test_run_dag_runs_real_airflow_and_returns_tidy_results(local_cloud):
    from helpers.aws import s3

    s3.create_environment_bucket("mwaa-workbook-test-env", "tests")
    s3.upload_dag("mwaa-workbook-test-env", "hello_mwaa.py")
    result = airflow_local.run_dag("hello_mwaa.py", conf={"bucket": "mwaa-workbook-test-env"})
    assert result.succeeded
    assert sorted(result.tasks.task) == ["greet", "list_dag_files", "summarize"]
    assert list(result.tasks.columns[:3]) == ["task", "map_index", "state"]
    assert result.xcom("summarize") == {"greeting": "Hello from Apache Airflow 3.3.1", "dag_files": 1}
    assert result.task_output("list_dag_files") == "found s3://mwaa-workbook-test-env/dags/hello_mwaa.py"
    with pytest.raises(WorkbookError, match="No XCom 'nope'"):
        result.xcom("greet", key="nope")


def test_failed_task_gives_a_failed_run(local_cloud):
    # No such bucket: list_dag_files fails, summarize is upstream_failed, the run is failed.
    result = airflow_local.run_dag("hello_mwaa.py", conf={"bucket": "mwaa-workbook-missing-bucket"})
    assert result.state == "failed"
    states = dict(zip(result.tasks.task, result.tasks.state, strict=True))
    assert states == {"greet": "success", "list_dag_files": "failed", "summarize": "upstream_failed"}
    assert "NoSuchBucket" in result.logs["list_dag_files"]
