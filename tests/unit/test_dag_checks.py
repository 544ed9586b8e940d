from __future__ import annotations

from helpers.dagtools.dag_checks import parse_time_lookups

BAD = '''
from airflow.sdk import Variable, dag, task
from airflow.hooks.base import BaseHook

bucket = Variable.get("bucket")

@dag(schedule=None)
def pipeline():
    conn = BaseHook.get_connection("aws_default")

    @task
    def fine():
        return Variable.get("inside_a_task_is_fine")

    fine()
'''

GOOD = '''
from airflow.sdk import Variable, dag, task

@dag(schedule=None)
def pipeline():
    @task
    def read():
        return Variable.get("bucket")

    helper = lambda: Variable.get("x")
    read()
'''


def test_flags_module_level_and_dag_body_lookups():
    found = parse_time_lookups(BAD, "bad.py")
    assert found == ["bad.py:5: Variable.get() runs at parse time", "bad.py:9: BaseHook.get_connection() runs at parse time"]


def test_lookups_inside_tasks_and_lambdas_are_fine():
    assert parse_time_lookups(GOOD) == []
