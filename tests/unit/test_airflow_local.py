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


def test_failed_task_gives_a_failed_run(local_cloud):
    """The success path (tidy tasks, XComs, task output) is notebook 00's, whose outputs `make test` compares; one
    `airflow dags test` costs half a minute of a busy 2-core machine, so the unit test keeps the failure path."""
    # No such bucket: list_dag_files fails, summarize is upstream_failed, the run is failed.
    result = airflow_local.run_dag("hello_mwaa.py", conf={"bucket": "mwaa-workbook-missing-bucket"})
    assert result.state == "failed"
    states = dict(zip(result.tasks.task, result.tasks.state, strict=True))
    assert states == {"greet": "success", "list_dag_files": "failed", "summarize": "upstream_failed"}
    assert "NoSuchBucket" in result.logs["list_dag_files"]
    assert list(result.tasks.columns[:3]) == ["task", "map_index", "state"] and not result.succeeded
    with pytest.raises(WorkbookError, match="No XCom 'nope'"):
        result.xcom("greet", key="nope")


SUBFOLDER_DAG = '''
import pendulum
from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def sub():
    @task
    def hi():
        return 1

    hi()


sub()
'''


def test_parse_dags_reads_sub_folders_and_reports_a_duplicate_dag_id(fresh_state, tmp_path):
    from helpers.paths import DAGS_DIR

    (tmp_path / "more").mkdir()
    (tmp_path / "hello_mwaa.py").write_text((DAGS_DIR / "hello_mwaa.py").read_text())
    (tmp_path / "more" / "hello_subfolder.py").write_text(SUBFOLDER_DAG.format(dag_id="hello_subfolder"))
    (tmp_path / "more" / "copy.py").write_text((DAGS_DIR / "hello_mwaa.py").read_text())
    parsed = airflow_local.parse_dags(tmp_path)
    assert parsed.dags.to_dict("records") == [{"dag_id": "hello_mwaa", "file": "hello_mwaa.py"},
                                              {"dag_id": "hello_subfolder", "file": "more/hello_subfolder.py"}]
    assert list(parsed.import_errors) == ["more/copy.py"] and "hello_mwaa" in parsed.import_errors["more/copy.py"]
