"""Every notebook, executed twice in a row in one local cloud (once where tests/notebook_budgets.toml says
`rerun = false`), its last execution compared with its committed outputs, within its time budget; 99_clean_up
closes each lane and proves nothing is left. See helpers/testkit/lanes.py.

`make test NB=05_snowflake` (WORKBOOK_TEST_NOTEBOOKS) runs one notebook this way, plus its unit tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.paths import NOTEBOOKS_DIR
from helpers.testkit import budgets, compare, lanes

pytestmark = pytest.mark.notebooks
NOTEBOOKS = lanes.selected_notebooks()


@pytest.fixture(scope="session")
def workbook_run(pytestconfig) -> dict:
    """The lanes the root conftest started when collection finished (see pytest_collection_finish)."""
    return pytestconfig.workbook_lanes.result()


def _row(run: dict, name: str, execution: int) -> dict:
    found = [r for r in run["rows"] if r["notebook"] == name and r["execution"] == execution]
    assert found, f"{name} run {execution} never finished (see {lanes.RUN_DIR}/lane*/lane.log)"
    return found[-1]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_runs_and_reruns(workbook_run, name):
    for execution in budgets.executions(name):
        row = _row(workbook_run, name, execution)
        assert row["status"] == "ok", f"{name} run {execution} {row['status']}: {row.get('error')} (see {row['path']})"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_last_run_matches_committed_outputs(workbook_run, name):
    row = _row(workbook_run, name, budgets.executions(name)[-1])
    mismatches = compare.compare(Path(row["path"]), NOTEBOOKS_DIR / f"{name}.ipynb")
    assert not mismatches, f"{name} ({row['path']}):\n" + "\n".join(map(str, mismatches))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_within_time_budget(workbook_run, name):
    budget, factor = budgets.load()[name].seconds, budgets.shared_cores_factor()
    slowest = max(_row(workbook_run, name, execution)["seconds"] for execution in budgets.executions(name))
    assert slowest <= budget * factor, (f"{name} took {slowest:.0f} s, over {factor}x its budget of {budget:.0f} s "
                                        f"(tests/notebook_budgets.toml; {workbook_run['lane_count']} lanes beside the unit tests)")


def test_clean_up_closes_every_lane_with_nothing_left(workbook_run):
    closing = [r for r in workbook_run["rows"] if r["notebook"] == budgets.CLEAN_UP]
    assert len(closing) == workbook_run["lane_count"], "a lane did not reach 99_clean_up"
    for row in closing:
        assert row["status"] == "ok", f"99_clean_up in lane {row['lane']}: {row.get('error')} (see {row['path']})"
        left = row.get("local_cloud_left", ["(unknown: the lane stopped early)"])
        assert left == [], f"lane {row['lane']} left {left} running"
        mismatches = compare.compare(Path(row["path"]), NOTEBOOKS_DIR / f"{budgets.CLEAN_UP}.ipynb")
        assert not mismatches, "\n".join(map(str, mismatches))
        limit = budgets.load()[budgets.CLEAN_UP].seconds * budgets.shared_cores_factor()
        assert row["seconds"] <= limit, f"99_clean_up took {row['seconds']:.0f} s, over {limit:.0f} s"


def test_peak_memory_of_all_lanes(workbook_run):
    limit = budgets.peak_memory_mb()
    assert 0 < workbook_run["peak_memory_mb"] <= limit, f"peak {workbook_run['peak_memory_mb']} MB, limit {limit:.0f} MB"
