"""Re-running a notebook works: each twice in a row in one local cloud, then 99 leaves nothing behind."""

from __future__ import annotations

import pytest

from helpers import localcloud
from helpers.runner import run_notebook

SEQUENCE = ["00_getting_started", "00_getting_started", "01_create_environment", "01_create_environment", "02_shared_vpc",
            "02_shared_vpc", "03_deferrable_operators", "03_deferrable_operators", "04_setup_teardown", "04_setup_teardown",
            "05_snowflake", "05_snowflake", "99_clean_up"]


@pytest.mark.timeout(3300)
def test_notebooks_run_twice_in_a_row_then_clean_up(fresh_state, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_HEADLESS", "1")  # the kernels inherit it, and fresh_state's WORKBOOK_STATE_DIR
    for step, name in enumerate(SEQUENCE):
        row = run_notebook(name, timeout=600, output=tmp_path / f"{step}-{name}.ipynb")
        assert row["status"] == "ok", f"run {step} of {name}: {row.get('error')}"
    assert localcloud.running() == {}  # 99 stopped the local cloud
