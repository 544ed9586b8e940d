"""Test-wide setup, shared by the helper tests and the notebooks that nbval executes.

- Tests get their own state folder (build/test-state, or WORKBOOK_TEST_STATE_DIR), so they never touch a learner's running local cloud.
- Airflow gets a throwaway AIRFLOW_HOME there before anything imports it.
- A notebook cell that writes to stderr fails, even where its outputs are not compared (as Qiskit's tester does).
- The test local cloud is stopped at the end, by PID.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
# WORKBOOK_TEST_STATE_DIR lets two test sessions run side by side (each stops its own local cloud at the end)
TEST_STATE = Path(os.environ.get("WORKBOOK_TEST_STATE_DIR", ROOT / "build" / "test-state")).resolve()
os.environ["WORKBOOK_STATE_DIR"] = str(TEST_STATE)
os.environ.setdefault("AIRFLOW_HOME", str(TEST_STATE / "airflow"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["WORKBOOK_HEADLESS"] = "1"  # no progress-bar redraws in the outputs nbval compares
os.environ.pop("WORKBOOK_TARGET", None)  # tests are for the local target unless a test says otherwise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    from helpers.notebooks import stderr_texts

    noise = stderr_texts(getattr(item, "test_outputs", None) or [])
    if noise:
        pytest.fail(f"notebook cell wrote to stderr: {noise[0].splitlines()[0][:300]}", pytrace=False)
    return result


def pytest_sessionfinish(session, exitstatus):
    from helpers import localcloud

    localcloud.down()
