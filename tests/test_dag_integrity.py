"""Every file in dags/ imports under the pinned Airflow, has tags, and does no parse-time Variable/Connection lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.dagtools.dag_checks import parse_time_lookups
from helpers.paths import DAGS_DIR

DAG_FILES = sorted(p for p in DAGS_DIR.rglob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_there_are_dags():
    assert DAG_FILES, "dags/ has no DAG files"


def test_airflow_is_the_pinned_version():
    from importlib.metadata import version

    assert version("apache-airflow") == "3.3.1"


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_each_file_defines_a_dag(dagbag, path: Path):
    assert any(Path(d.fileloc) == path for d in dagbag.dags.values()), f"{path.name} defines no DAG"


def test_every_dag_has_tags(dagbag):
    untagged = sorted(dag_id for dag_id, dag in dagbag.dags.items() if not dag.tags)
    assert untagged == []


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_no_parse_time_variable_or_connection_lookups(path: Path):
    assert parse_time_lookups(path.read_text(), path.name) == []


AIRFLOW_3_RULES = "AIR301,AIR302,AIR311,AIR312"  # ruff's Airflow 3 migration rules: removed, moved, to be removed


def test_written_for_airflow_3():
    """ruff's Airflow 3 rules find nothing in dags/ (they read the code, not the docstrings that name what changed);
    that they do find what Airflow 3 removed is shown on sample_data/airflow2_dags (tests/unit/test_operations.py)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", AIRFLOW_3_RULES,
                           "--output-format", "concise", str(DAGS_DIR)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_no_removed_context_keys(path: Path):
    # a context key is a string ruff cannot see: `context["execution_date"]` fails only when the task runs
    assert '"execution_date"' not in path.read_text() and "'execution_date'" not in path.read_text(), path.name
