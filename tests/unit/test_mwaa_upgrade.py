"""In-place version upgrades of a real local MWAA environment: one 3.0.6 environment (module-scoped: every start costs
about 25 CPU-seconds) runs `hello_mwaa`, survives an upgrade to 3.3.1 that fails to start (rolled back to 3.0.6 from
the DB snapshot), then is upgraded to 3.3.1 with its DAG run history kept.

The failing upgrade asks for 3.3.1 with `core.parallelism = "many"`, which Airflow refuses when its scheduler starts
(test_mwaa_emulator.py's CREATE_FAILED test uses the same option): the target's DB migration succeeds first, so the
rollback must restore the snapshot for 3.0.6 to run again. Statuses are read from the MWAA status-change events
(EventBridge -> SQS), which catch the brief CREATING_SNAPSHOT a poll could miss. The state machine's other paths
(failed migration, failed rollback, a target that cannot be installed) are tested with fakes in
test_mwaa_state_machine.py.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request

import pytest

from helpers.aws import cloud, events, mwaa, s3
from helpers.errors import WorkbookError

NB, NAME = "tests-upgrade", "upgrade-env"
SCHEDULER_LOGS = {"SchedulerLogs": {"Enabled": True, "LogLevel": "INFO"}}


@pytest.fixture(scope="module")
def env(module_cloud):
    """The 3.0.6 environment, its status events' queue, and one successful `hello_mwaa` run."""
    prereq = mwaa.create_prerequisites(NB, NAME)
    s3.upload_dag(prereq.bucket, "hello_mwaa.py")
    queue = events.status_event_queue(NB, "upgrade-status")
    started = time.monotonic()
    mwaa.create_environment(mwaa.environment_request(NAME, prereq, NB, AirflowVersion="3.0.6",
                                                     LoggingConfiguration={**mwaa.TASK_LOGS_INFO, **SCHEDULER_LOGS}))
    try:
        mwaa.wait_for_status(NAME, "AVAILABLE", timeout=300)
        print(f"\n3.0.6 environment AVAILABLE in {time.monotonic() - started:.1f} s")
        api = mwaa.AirflowApi(NAME)
        api.wait_for_dag("hello_mwaa", timeout=60)
        run_id, state = api.run("hello_mwaa", {"bucket": prereq.bucket}, timeout=180)
        yield {"prereq": prereq, "queue": queue, "api": api, "run_id": run_id, "state": state}
    finally:
        mwaa.delete_environment(NAME, timeout=120)


def statuses(env) -> list[str]:
    """The statuses the environment changed to since the last call, in the order of their events; drains the queue."""
    return list(events.received(env["queue"], NAME, wait_seconds=2).status)


def cli_version() -> str:
    cli = mwaa.client().create_cli_token(Name=NAME)
    call = urllib.request.Request(f"http://{cli['WebServerHostname']}/aws_mwaa/cli", data=b"version", method="POST",
                                  headers={"Authorization": f"Bearer {cli['CliToken']}", "Content-Type": "text/plain"})
    return base64.b64decode(json.load(urllib.request.urlopen(call, timeout=60))["stdout"]).decode().strip()


def upgrade_log_lines(env) -> list[str]:
    logs, group = cloud.client("logs"), f"airflow-{NAME}-Scheduler"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="upgrade_")["logStreams"]
    return [e["message"] for s in streams
            for e in logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True)["events"]]


def test_3_0_6_runs_as_itself(env):
    assert env["state"] == "success"
    described = mwaa.describe(NAME)
    assert described["AirflowVersion"] == "3.0.6"
    assert not [tag for tag in described["Tags"] if tag.startswith("localmwaa:")]  # nothing emulated to note
    assert env["api"].call("GET", "/version")["version"] == "3.0.6"
    assert cli_version() == "3.0.6"
    # Airflow 3.0's own default, which 3.3.1 no longer has: the XCom endpoint refuses `deserialize`; AirflowApi.xcom
    # then reads the stored JSON
    entry = f"/dags/hello_mwaa/dagRuns/{env['run_id']}/taskInstances/summarize/xcomEntries/return_value"
    with pytest.raises(WorkbookError, match="XCom deserialization is disabled in configuration"):
        env["api"].call("GET", entry, {"deserialize": True})
    summary = env["api"].xcom("hello_mwaa", env["run_id"], "summarize")
    assert summary["greeting"] and summary["dag_files"] >= 1, summary
    assert statuses(env) == ["CREATING", "AVAILABLE"]


def test_an_upgrade_that_does_not_start_rolls_back_to_3_0_6_with_the_run_kept(env):
    started = time.monotonic()
    mwaa.client().update_environment(Name=NAME, AirflowVersion="3.3.1", AirflowConfigurationOptions={"core.parallelism": "many"})
    with pytest.raises(WorkbookError) as err:
        mwaa.wait_for_status(NAME, "AVAILABLE", timeout=300)
    print(f"\nfailed upgrade rolled back in {time.monotonic() - started:.1f} s")
    assert f"Environment {NAME}'s update failed and was rolled back" in str(err.value)
    assert "Airflow scheduler exited" in str(err.value) and "'many'" in str(err.value) and "\n" not in str(err.value)
    assert statuses(env) == ["UPDATING", "CREATING_SNAPSHOT", "UPDATING", "ROLLING_BACK", "UPDATE_FAILED"]
    described = mwaa.describe(NAME)
    assert (described["AirflowVersion"], described["AirflowConfigurationOptions"]) == ("3.0.6", {})
    assert described["LastUpdate"]["Status"] == "FAILED"
    assert described["LastUpdate"]["Error"]["ErrorCode"] == "AIRFLOW_START_FAILED"
    assert "many" in described["LastUpdate"]["Error"]["ErrorMessage"]
    assert env["api"].call("GET", "/version")["version"] == "3.0.6"  # Airflow runs again, the old version
    assert env["api"].call("GET", f"/dags/hello_mwaa/dagRuns/{env['run_id']}")["state"] == "success"
    lines = upgrade_log_lines(env)
    assert "[INFO] - Upgrading Airflow 3.0.6 to 3.3.1: airflow db migrate (3.3.1)" in lines
    assert any(line.startswith("[INFO] - airflow db migrate succeeded") for line in lines)


def test_the_upgrade_to_3_3_1_keeps_the_run_history(env):
    started = time.monotonic()
    mwaa.client().update_environment(Name=NAME, AirflowVersion="3.3.1")
    mwaa.wait_for_status(NAME, "AVAILABLE", timeout=300)
    print(f"\nupgrade 3.0.6 -> 3.3.1 (UpdateEnvironment -> AVAILABLE) in {time.monotonic() - started:.1f} s")
    assert statuses(env) == ["UPDATING", "CREATING_SNAPSHOT", "UPDATING", "AVAILABLE"]
    described = mwaa.describe(NAME)
    assert (described["AirflowVersion"], described["LastUpdate"]["Status"]) == ("3.3.1", "SUCCESS")
    assert env["api"].call("GET", "/version")["version"] == "3.3.1"
    assert cli_version() == "3.3.1"
    runs = env["api"].call("GET", "/dags/hello_mwaa/dagRuns")["dag_runs"]
    assert [(r["dag_run_id"], r["state"]) for r in runs] == [(env["run_id"], "success")]
