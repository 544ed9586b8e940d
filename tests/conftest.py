from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

# Settings a learner's shell may carry that would make a test's local cloud differ from the default one.
CLOUD_VARIABLES = ("WORKBOOK_TARGET", "WORKBOOK_REGION", "WORKBOOK_AWS_PORT", "WORKBOOK_SNOWFLAKE_PORT",
                   "WORKBOOK_POSTGRES_PORT", "AWS_PROFILE", "WORKBOOK_AWS_PROFILE", "WORKBOOK_MWAA_ENVIRONMENT")


@contextmanager
def cloud_in(state: Path, start: bool):
    """The local cloud in its own state folder (started if `start`), stopped by PID afterwards whatever happened.
    Yields `state`, `patch` (a MonkeyPatch undone at the end) and `records` (what `up` returned)."""
    from helpers import localcloud

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBOOK_STATE_DIR", str(state))
        for var in CLOUD_VARIABLES:
            patch.delenv(var, raising=False)
        try:
            yield SimpleNamespace(state=state, patch=patch, records=localcloud.up(quiet=True) if start else {})
        finally:
            localcloud.down()


@pytest.fixture
def fresh_state(tmp_path):
    """An empty state folder: a local cloud started here is this test's alone, and stopped after it."""
    with cloud_in(tmp_path / "state", start=False) as cloud:
        yield cloud.state


@pytest.fixture
def local_cloud(fresh_state):
    from helpers import localcloud

    localcloud.up(quiet=True)
    return localcloud.require()


@pytest.fixture(scope="module")
def module_cloud(tmp_path_factory):
    """One running local cloud for a whole test module (a fresh one per test costs seconds each), in its own state
    folder. Tests sharing it use their own resource names."""
    with cloud_in(tmp_path_factory.mktemp("cloud") / "state", start=True) as cloud:
        yield cloud
