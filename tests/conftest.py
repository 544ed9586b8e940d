from __future__ import annotations

import pytest


@pytest.fixture
def fresh_state(tmp_path, monkeypatch):
    """An empty state folder: a local cloud started here is this test's alone, and stopped after it."""
    monkeypatch.setenv("WORKBOOK_STATE_DIR", str(tmp_path / "state"))
    for var in ("WORKBOOK_TARGET", "WORKBOOK_REGION", "WORKBOOK_AWS_PORT", "WORKBOOK_SNOWFLAKE_PORT", "AWS_PROFILE",
                "WORKBOOK_AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    yield tmp_path / "state"
    from helpers import localcloud

    localcloud.down()


@pytest.fixture
def local_cloud(fresh_state):
    from helpers import localcloud

    localcloud.up(quiet=True)
    return localcloud.require()
