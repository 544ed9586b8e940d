"""Notebook 10's plumbing (helpers.chapters.operations): the findings table of the checks before an upgrade, read from
the real tools' output, and how an update is summarised."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers.chapters.operations import scenario as operations
from helpers.localcloud.emulators.mwaa import versions


def test_ruff_finds_every_airflow_3_rule_in_the_airflow_2_dag_and_none_in_its_fixed_version():
    legacy = operations.LEGACY_DAGS / "daily_report.py"
    fixed = operations.REPO_ROOT / "dags" / "daily_report.py"
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select",
               ",".join(operations.AIRFLOW_RULES), "--output-format", "json"]
    found = operations.ruff_findings(subprocess.run([*command, str(legacy)], capture_output=True, text=True).stdout)
    assert set(found.rule) == set(operations.AIRFLOW_RULES), found
    assert set(found.source.str.split(":").str[0]) == {"daily_report.py"}
    assert found.finding.str.contains("schedule_interval").any()
    clean = subprocess.run([*command, str(fixed)], capture_output=True, text=True).stdout
    assert operations.ruff_findings(clean).empty


def test_config_lint_of_the_installed_airflow_names_the_moved_option(tmp_path):
    done = subprocess.run([sys.executable, "-m", "airflow", "config", "lint"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "30"})
    found = operations.lint_findings(done.stdout)
    assert len(found) == 1 and "dag_dir_list_interval" in found.finding[0] and "refresh_interval" in found.finding[0], done.stdout
    assert operations.lint_findings("Found issues in your airflow.cfg:\n\nPlease update").empty
    coloured = operations.lint_findings("  - \x1b[33m`workers` configuration parameter moved\x1b[0m")
    assert list(coloured.finding) == ["workers configuration parameter moved"]


def test_parse_findings_keep_the_last_line_of_each_traceback():
    found = operations.parse_findings({"/x/b.py": "Traceback ...\n  File x\nTypeError: bad\n",
                                       "/x/a.py": "ModuleNotFoundError: No module named 'airflow.operators.dummy'\n"})
    assert list(found.source) == ["a.py", "b.py"]
    assert list(found.finding) == ["ModuleNotFoundError: No module named 'airflow.operators.dummy'", "TypeError: bad"]


def test_a_frozen_pin_of_the_old_version_does_not_resolve_for_the_new_one():
    text = "tabulate==0.9.0\n"  # 3.0.6's constraint; 3.3.1's is 0.10.0
    assert versions.pins(versions.airflow_constraints("3.0.6"))["tabulate"] == "0.9.0"
    result = operations.resolve(text, "3.3.1")
    assert not result["ok"] and "tabulate" in result["error"]
    found = operations.requirement_findings(result)
    assert not found.empty and (found.check == "requirements").all()
    assert operations.requirement_findings({"ok": True, "pins": [], "error": ""}).empty


def test_an_update_summary_lists_statuses_once_each_and_the_last_update():
    update = operations.Update([(0.0, "UPDATING"), (2.5, "ROLLING_BACK"), (9.0, "UPDATE_FAILED")], {"Status": "FAILED"})
    assert update.statuses == ["UPDATING", "ROLLING_BACK", "UPDATE_FAILED"] and update.seconds == 9.0
    assert str(update) == "UPDATING -> ROLLING_BACK -> UPDATE_FAILED | LastUpdate: FAILED"


def test_the_figures_are_drawn():
    drawn = [operations.what_an_update_touches("test-10-touches"),
             operations.updates_figure({"a": operations.Update([(0.0, "UPDATING"), (3.0, "AVAILABLE")], {"Status": "SUCCESS"})},
                                       "test-10-updates")]
    assert all(path.exists() and path.stat().st_size > 5000 for path in drawn)


def test_an_updates_statuses_come_from_its_own_events(monkeypatch):
    """The events of the create and of an earlier update are left out; a status a poll would miss is in."""
    import pandas as pd

    from helpers.aws import events

    rows = [("CREATING", None, "2026-12-04T10:00:00Z"), ("AVAILABLE", "CREATING", "2026-12-04T10:00:08Z"),
            ("UPDATING", "AVAILABLE", "2026-12-04T10:01:00Z"), ("AVAILABLE", "UPDATING", "2026-12-04T10:01:09Z"),
            ("UPDATING", "AVAILABLE", "2026-12-04T10:02:00Z"), ("ROLLING_BACK", "UPDATING", "2026-12-04T10:02:00Z"),
            ("UPDATE_FAILED", "ROLLING_BACK", "2026-12-04T10:02:01Z")]
    batches = [pd.DataFrame([{"environment": "env", "previous": p, "status": s, "time": t} for s, p, t in rows[:5]]),
               pd.DataFrame([{"environment": "env", "previous": p, "status": s, "time": t} for s, p, t in rows[5:]])]
    empty = pd.DataFrame(columns=["environment", "previous", "status", "time"])
    monkeypatch.setattr(events, "received", lambda queue, name, wait_seconds=1: batches.pop(0) if batches else empty)
    timeline = operations._update_timeline("env", "queue", "UPDATE_FAILED", seconds=1.6, wait=5)
    update = operations.Update(timeline, {"Status": "FAILED"})
    assert update.statuses == ["UPDATING", "ROLLING_BACK", "UPDATE_FAILED"]
    assert timeline[0] == (0.0, "UPDATING") and update.seconds == 1.6


def test_without_events_the_polled_end_stands_in(monkeypatch):
    import pandas as pd

    from helpers.aws import events

    monkeypatch.setattr(events, "received", lambda queue, name, wait_seconds=1: pd.DataFrame(
        columns=["environment", "previous", "status", "time"]))
    assert operations._update_timeline("env", "queue", "AVAILABLE", seconds=12.0, wait=0) == [(0.0, "UPDATING"), (12.0, "AVAILABLE")]
