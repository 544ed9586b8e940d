"""Test-wide setup, shared by the helper tests and the notebooks that nbval executes.

- Tests get their own state folder (build/test-state, or WORKBOOK_TEST_STATE_DIR), so they never touch a learner's running local cloud.
- Airflow gets a throwaway AIRFLOW_HOME there before anything imports it.
- A notebook cell that writes to stderr fails, even where its outputs are not compared (as Qiskit's tester does).
- The test local cloud is stopped at the end, by PID.
- Markers: `notebooks` (tests/test_notebooks.py), `localcloud` (tests that start a local cloud, found by their
  fixtures), `browser` (Chromium). `make test-fast` deselects all three; it also makes starting a local cloud fail
  loudly (a service process may not start), so a test that needs one and is not marked cannot hide there.
- `make test NB=<notebook>` (WORKBOOK_TEST_NOTEBOOKS) keeps the notebook tests and that notebook's unit tests
  (tests/notebook_budgets.toml).
"""

from __future__ import annotations

import json
import os
import time
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


# fixtures that start a local cloud (tests/conftest.py and the test modules' own)
LOCAL_CLOUD_FIXTURES = {"local_cloud", "vpc", "glue_cloud", "cloud_with_snowflake", "stack", "module_cloud", "buckets"}


def pytest_configure(config):
    for marker, what in (("notebooks", "executes the workbook's notebooks (tests/test_notebooks.py)"),
                         ("localcloud", "starts a local cloud"), ("browser", "drives Chromium")):
        config.addinivalue_line("markers", f"{marker}: {what}")
    if os.environ.get("WORKBOOK_TEST_FAST"):
        from helpers.localcloud import services

        def refuse(*args, **kwargs):
            raise RuntimeError("this test starts a local cloud: give it a LOCAL_CLOUD_FIXTURES fixture or the localcloud mark")

        services.ProcessService.start = refuse


def pytest_collection_modifyitems(config, items):
    for item in items:
        if LOCAL_CLOUD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.localcloud)
    selected = os.environ.get("WORKBOOK_TEST_NOTEBOOKS", "").replace(",", " ").split()
    if selected:
        from helpers.testkit import budgets

        limits = budgets.load()
        unknown = [n for n in selected if n not in limits]
        if unknown:
            raise pytest.UsageError(f"no notebook {', '.join(unknown)}; notebooks: {', '.join(limits)}")
        wanted = {str(ROOT / "tests" / "test_notebooks.py")} | {str(ROOT / t) for n in selected for t in limits[n].unit_tests}
        keep = [i for i in items if str(i.path) in wanted]
        config.hook.pytest_deselected(items=[i for i in items if str(i.path) not in wanted])
        items[:] = keep


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """The notebook lanes start now, in the background, and their tests run last (they wait for the lanes)."""
    notebook_items = [i for i in session.items if i.get_closest_marker("notebooks")]
    if not notebook_items or session.config.option.collectonly:
        return
    session.items[:] = [i for i in session.items if i not in notebook_items] + notebook_items
    from helpers.testkit import lanes

    one_notebook = bool(os.environ.get("WORKBOOK_TEST_NOTEBOOKS"))
    # Progress in CI logs while the unit tests run: pytest captures fd 1 during each test, so write to the copy of the
    # real stdout it saved (when it has one).
    capture = getattr(session.config.pluginmanager.get_plugin("capturemanager"), "_global_capturing", None)
    out_fd = getattr(getattr(capture, "out", None), "targetfd_save", None)

    def echo(line: str) -> None:
        if isinstance(out_fd, int):
            os.write(out_fd, f"\n[notebooks] {line}\n".encode())

    session.config.workbook_lanes = lanes.Background(lanes=1 if one_notebook else None, names=lanes.selected_notebooks(),
                                                     echo=echo)
    # The lanes are the critical path of `make test`; the unit tests beside them are shorter and can wait. Lower the
    # priority of this thread, which runs the unit tests and starts their Airflow processes and servers; on Linux a
    # thread's nice value is its own, so the lanes' thread (started above, at the default) and everything it starts
    # keep theirs. The servers this thread starts run in sessions of their own, which Linux schedules as groups by the
    # group's nice value: `processes.spawn` gives each session this thread's (`keep_priority`).
    if hasattr(os, "nice") and not one_notebook:
        os.nice(lanes.UNIT_TESTS_NICE)



@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    from helpers.tooling.notebooks import stderr_texts

    noise = stderr_texts(getattr(item, "test_outputs", None) or [])
    if noise:
        pytest.fail(f"notebook cell wrote to stderr: {noise[0].splitlines()[0][:300]}", pytrace=False)
    return result


_STARTED = time.monotonic()


def pytest_sessionfinish(session, exitstatus):
    from helpers import localcloud

    if (background := getattr(session.config, "workbook_lanes", None)) is not None:
        background.stop()  # a no-op when the lanes are done; ends them on Ctrl-C or a failed session
    localcloud.down()
    _record_session(session)


def _record_session(session) -> None:
    """build/test-session.json: what the README's measured table says of `make test` (a full run only)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or os.environ.get("WORKBOOK_TEST_FAST") or os.environ.get("WORKBOOK_TEST_NOTEBOOKS") \
            or session.config.option.markexpr or session.config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    from helpers.paths import BUILD_DIR
    from helpers.testkit import lanes

    counts = {k: len([r for r in reporter.stats.get(k, []) if getattr(r, "when", "call") == "call"])
              for k in ("passed", "failed", "skipped")}
    try:
        lane_count = json.loads((lanes.RUN_DIR / "run.json").read_text()).get("lane_count")
    except (OSError, ValueError):
        lane_count = None
    BUILD_DIR.mkdir(exist_ok=True)
    (BUILD_DIR / "test-session.json").write_text(json.dumps(
        {"seconds": round(time.monotonic() - _STARTED, 1), "lanes": lane_count, **counts}, indent=2) + "\n")
