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


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_written_for_airflow_3(path: Path):
    source = path.read_text()
    for gone in ("schedule_interval", "days_ago", "DummyOperator", "airflow.operators.", "execution_date"):
        assert gone not in source, f"{path.name} uses {gone}, which Airflow 3 removed"
