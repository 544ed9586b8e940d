"""The local MWAA's startup scripts: the runner on its own (bash, tmp folders), the worker environment the executor
applies, the S3 object version on the local cloud, and one real environment whose DAG task sees what the script
exported for workers (and loads a plugin from plugins.zip)."""

from __future__ import annotations

import io
import json
import os
import sys
import textwrap
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from helpers.localcloud.emulators.mwaa import log_streams, runtime, startup_script
from helpers.localcloud.emulators.mwaa.startup_script import StartupScript, StartupScriptFailed, run

sys.path.insert(0, str(runtime.AIRFLOW_PYTHONPATH))  # as the local MWAA's PYTHONPATH puts it for Airflow

BASE = {"PATH": os.environ["PATH"], "AIRFLOW_HOME": "/home/airflow", "PYTHONPATH": "/ours", "KEEP": "same"}


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "startup.sh"
    path.write_text(textwrap.dedent(body))
    return path


def messages(result) -> list[str]:
    return [text for _, text in result.lines]


@pytest.mark.parametrize("component", startup_script.RUNS)
def test_the_script_sees_its_component_and_its_output_is_logged(tmp_path, component):
    result = run(script(tmp_path, """
        echo "running for $MWAA_AIRFLOW_COMPONENT"
        echo "to stderr" >&2
        export SEEN_AS="$MWAA_AIRFLOW_COMPONENT"
    """), component, BASE, tmp_path, timeout=10)
    assert result.error is None
    assert result.exports == {"SEEN_AS": component}
    assert f"[INFO] - running for {component}" in messages(result)
    assert "[INFO] - to stderr" in messages(result)
    assert messages(result)[-1].startswith("[INFO] - Startup script execution time: ")


def test_exports_are_passed_on_and_reserved_ones_refused(tmp_path):
    result = run(script(tmp_path, """
        export MY_SETTING="a value
        on two lines"
        export KEEP=same
        export AIRFLOW_HOME=/elsewhere PYTHONPATH=/theirs AIRFLOW__CORE__EXECUTOR=CeleryExecutor
        export MWAA__CORE__ANYTHING=x MWAA_AIRFLOW_COMPONENT=scheduler
        export AIRFLOW__CORE__DEFAULT_TIMEZONE=Europe/Paris
    """), "worker", BASE, tmp_path, timeout=10)
    assert result.error is None
    # unchanged variables are not "exports"; a value may hold a newline
    assert result.exports == {"MY_SETTING": "a value\non two lines", "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Europe/Paris"}
    assert sorted(result.refused) == ["AIRFLOW_HOME", "AIRFLOW__CORE__EXECUTOR", "MWAA__CORE__ANYTHING", "PYTHONPATH"]
    warnings = [m for m in messages(result) if m.startswith("[WARNING]")]
    assert len(warnings) == 4 and all("which Amazon MWAA reserves" in w for w in warnings)
    final = startup_script.component_environ(BASE, result, startup_script.option_variables({}))
    assert final["AIRFLOW_HOME"] == "/home/airflow" and final["PYTHONPATH"] == "/ours"
    assert final["MWAA_AIRFLOW_COMPONENT"] == "worker" and final["MY_SETTING"].endswith("two lines")


def test_the_reserved_list_is_the_images():
    for name in ("AIRFLOW_HOME", "PYTHONPATH", "AWS_REGION", "MWAA_AIRFLOW_COMPONENT", "MWAA__AIRFLOW__COMPONENT",
                 "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__METRICS__STATSD_ON"):
        assert startup_script.reserved(name), name
    for name in ("PATH", "LD_LIBRARY_PATH", "JAVA_HOME", "AIRFLOW__CORE__DEFAULT_TIMEZONE", "AIRFLOW_CONN_MY_DB"):
        assert not startup_script.reserved(name), name


def test_configuration_options_win_over_the_scripts_exports(tmp_path):
    result = run(script(tmp_path, "export AIRFLOW__CORE__DEFAULT_TIMEZONE=Europe/Paris NEW=1\n"), "scheduler",
                 {**BASE, "AIRFLOW__CORE__DEFAULT_TIMEZONE": "utc"}, tmp_path, timeout=10)
    final = startup_script.component_environ({**BASE, "AIRFLOW__CORE__DEFAULT_TIMEZONE": "utc"}, result,
                                             startup_script.option_variables({"core.default_timezone": "utc"}))
    assert final["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "utc" and final["NEW"] == "1"


def test_a_script_that_overruns_is_stopped_with_what_it_started(tmp_path):
    started = time.monotonic()
    result = run(script(tmp_path, f"""
        sleep 60 &
        echo $! > {tmp_path}/child.pid
        echo "waiting"
        wait
    """), "scheduler", BASE, tmp_path, timeout=2, grace=0.5)
    assert 1.4 < time.monotonic() - started < 5
    assert result.error.startswith("The startup script of the scheduler did not finish within 2 seconds")
    assert "[INFO] - waiting" in messages(result) and f"[ERROR] - {result.error}" in messages(result)
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 3
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(child)


def running(pid: int) -> bool:
    """Not gone and not a zombie (an orphan waits to be reaped by whichever process adopted it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_script_that_ignores_sigterm_is_killed_at_the_limit(tmp_path):
    started = time.monotonic()
    result = run(script(tmp_path, "trap '' TERM\nsleep 60\n"), "worker", BASE, tmp_path, timeout=2, grace=0.5)
    assert "did not finish within 2 seconds" in result.error
    assert time.monotonic() - started < 4


def test_a_delete_stops_a_running_script_at_once(tmp_path):
    cancelled = threading.Event()
    threading.Timer(0.3, cancelled.set).start()
    started = time.monotonic()
    result = run(script(tmp_path, "sleep 60\n"), "worker", BASE, tmp_path, timeout=30, grace=0.2, cancelled=cancelled)
    assert time.monotonic() - started < 2
    assert result.error == "The startup script of the worker was stopped: the environment is being deleted."


def test_bash_ending_early_fails_the_component_but_exit_with_a_status_does_not(tmp_path):
    # `set -e` ends bash before the image's wrapper can save the environment: the component does not start
    failed = run(script(tmp_path, "set -e\nexport A=1\nfalse\nexport B=2\n"), "worker", BASE, tmp_path, timeout=10)
    assert failed.error == ("The startup script of the worker ended (exit status 1) before MWAA could read the "
                            "variables it exports, so the worker did not start.")
    # the image aliases `exit` to its handler, which saves the environment and exits 0: `exit 3` does not fail
    exited = run(script(tmp_path, "export A=1\nif true; then\n  exit 3\nfi\nexport B=2\n"), "worker", BASE, tmp_path,
                 timeout=10)
    assert exited.error is None and exited.exports == {"A": "1"}


def _sink(seen: list):
    return seen.append


def test_environments_maps_processes_to_the_images_components_and_writes_the_workers_changes(tmp_path):
    body = """
        export EVERYWHERE=1
        if [[ "$MWAA_AIRFLOW_COMPONENT" == "worker" ]]; then export WORKER_ONLY=yes; fi
        if [[ "$MWAA_AIRFLOW_COMPONENT" == "scheduler" ]]; then export SCHEDULER_ONLY=yes; fi
    """
    seen = []
    envs = StartupScript(script(tmp_path, body), _sink(seen), timeout=10).environments(BASE, {}, tmp_path)
    assert sorted(r.component for r in seen) == ["scheduler", "webserver", "worker"]
    assert set(envs) == set(runtime.COMPONENTS)
    assert envs["api-server"]["MWAA_AIRFLOW_COMPONENT"] == "webserver" and "SCHEDULER_ONLY" not in envs["api-server"]
    for process in ("scheduler", "dag-processor", "triggerer"):
        assert envs[process]["MWAA_AIRFLOW_COMPONENT"] == "scheduler" and envs[process]["SCHEDULER_ONLY"] == "yes"
        assert "WORKER_ONLY" not in envs[process] and envs[process]["EVERYWHERE"] == "1"
    changes = json.loads((tmp_path / startup_script.WORKER_ENVIRON).read_text())
    assert changes == {"set": {"WORKER_ONLY": "yes", "MWAA_AIRFLOW_COMPONENT": "worker", "MWAA_COMMAND": "worker"},
                       "unset": ["SCHEDULER_ONLY"]}


def test_one_failing_component_fails_the_start_and_every_run_is_logged(tmp_path):
    body = 'if [[ "$MWAA_AIRFLOW_COMPONENT" == "webserver" ]]; then sleep 30; fi\nexport X=1\n'
    seen = []
    started = time.monotonic()
    with pytest.raises(StartupScriptFailed, match="startup script of the webserver did not finish within 1 seconds"):
        StartupScript(script(tmp_path, body), _sink(seen), timeout=1, grace=0.2).environments(BASE, {}, tmp_path)
    assert time.monotonic() - started < 3  # the runs go in parallel
    assert len(seen) == 3
    assert not (tmp_path / startup_script.WORKER_ENVIRON).exists()


def test_the_executor_forks_workers_in_the_worker_environment_and_keeps_its_own(tmp_path, monkeypatch):
    from mwaa_worker_environ import worker_environ

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("SCHEDULER_ONLY", "yes")
    monkeypatch.setenv("MWAA_AIRFLOW_COMPONENT", "scheduler")
    with worker_environ():  # no file: nothing changes
        assert os.environ["MWAA_AIRFLOW_COMPONENT"] == "scheduler"
    (tmp_path / "startup").mkdir()
    (tmp_path / startup_script.WORKER_ENVIRON).write_text(json.dumps(
        {"set": {"WORKER_ONLY": "yes", "MWAA_AIRFLOW_COMPONENT": "worker"}, "unset": ["SCHEDULER_ONLY"]}))
    with worker_environ():
        assert (os.environ["WORKER_ONLY"], os.environ["MWAA_AIRFLOW_COMPONENT"]) == ("yes", "worker")
        assert "SCHEDULER_ONLY" not in os.environ
    assert "WORKER_ONLY" not in os.environ
    assert (os.environ["SCHEDULER_ONLY"], os.environ["MWAA_AIRFLOW_COMPONENT"]) == ("yes", "scheduler")


def test_the_executor_and_the_emulator_agree_on_the_worker_file():
    import mwaa_worker_environ

    assert mwaa_worker_environ.WORKER_ENVIRON == startup_script.WORKER_ENVIRON


def test_the_stream_is_named_as_the_image_names_it():
    assert startup_script.stream_name("ip-10-0-1-2", 1764777600.5) == "startup_script_execution_ip-10-0-1-2_1764777600.5.log"


# ---- on the local cloud ----

def test_the_object_version_asked_for_is_the_one_run_and_the_log_reaches_cloudwatch(module_cloud, tmp_path):
    from helpers.aws import cloud

    s3, logs = cloud.client("s3"), cloud.client("logs")
    s3.create_bucket(Bucket="startup-versions")
    s3.put_bucket_versioning(Bucket="startup-versions", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="startup-versions", Key="startup.sh", Body=b"export WHICH=first\n")["VersionId"]
    s3.put_object(Bucket="startup-versions", Key="startup.sh", Body=b"export WHICH=second\n")
    for version, expected in ((first, "first"), (None, "second")):
        path = startup_script.fetch(s3, "startup-versions", "startup.sh", version, tmp_path / "startup" / "startup.sh")
        assert run(path, "worker", BASE, tmp_path, timeout=10).exports == {"WHICH": expected}

    result = run(path, "worker", BASE, tmp_path, timeout=10)
    logs.create_log_group(logGroupName="airflow-startup-Worker")
    stream = startup_script.stream_name()
    log_streams.publish(logs, "airflow-startup-Worker", stream, result.lines, tmp_path / "logs" / "startup.log")
    got = [e["message"] for e in logs.get_log_events(logGroupName="airflow-startup-Worker", logStreamName=stream,
                                                     startFromHead=True)["events"]]
    assert got == messages(result) and got[0] == "[INFO] - Executing customer startup script"
    assert (tmp_path / "logs" / "startup.log").read_text().splitlines() == got


WORKER_DAG = '''
import os

from airflow.sdk import dag, task


@dag(schedule=None)
def startup_env():
    @task
    def read_env():
        from startup_probe_plugin import MARK  # from plugins.zip: the plugins folder is on sys.path

        return {name: os.environ.get(name) for name in ("WORKER_ONLY", "SCHEDULER_ONLY", "MWAA_AIRFLOW_COMPONENT")} | {
            "mark": MARK}

    read_env()


startup_env()
'''
STARTUP = """
echo "startup for $MWAA_AIRFLOW_COMPONENT"
if [[ "$MWAA_AIRFLOW_COMPONENT" == "worker" ]]; then export WORKER_ONLY={value}; fi
if [[ "$MWAA_AIRFLOW_COMPONENT" == "scheduler" ]]; then export SCHEDULER_ONLY=yes; fi
export PYTHONPATH=/not/ours
"""
PLUGIN = '''
from airflow.plugins_manager import AirflowPlugin

MARK = "from plugins.zip"


class StartupProbePlugin(AirflowPlugin):
    name = "startup_probe"
'''


def test_a_real_environment_runs_the_script_for_its_workers_and_loads_plugins(module_cloud):
    from helpers.aws import cloud, mwaa

    name, notebook = "startup-env", "tests-startup"
    prereq = mwaa.create_prerequisites(notebook, name)
    s3, logs = cloud.client("s3"), cloud.client("logs")
    s3.put_object(Bucket=prereq.bucket, Key="dags/startup_env.py", Body=WORKER_DAG.encode())
    wanted = s3.put_object(Bucket=prereq.bucket, Key="startup.sh", Body=STARTUP.format(value="v1").encode())["VersionId"]
    s3.put_object(Bucket=prereq.bucket, Key="startup.sh", Body=STARTUP.format(value="v2").encode())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("startup_probe_plugin.py", PLUGIN)
        zf.writestr("broken_plugin.py", "import no_such_module_anywhere\n")
    s3.put_object(Bucket=prereq.bucket, Key="plugins.zip", Body=archive.getvalue())
    overrun = s3.put_object(Bucket=prereq.bucket, Key="overrun.sh", Body=b"""
if [[ "$MWAA_AIRFLOW_COMPONENT" == "worker" ]]; then sleep 30; fi
""")["VersionId"]
    logging = {m: {"Enabled": True, "LogLevel": "INFO"} for m in ("SchedulerLogs", "WorkerLogs", "WebserverLogs")}
    settings(startup_script_timeout_seconds=2)  # MWAA's 5 minutes, shortened
    try:
        mwaa.client().create_environment(**mwaa.environment_request(
            name, prereq, notebook, StartupScriptS3Path="startup.sh", StartupScriptS3ObjectVersion=wanted,
            PluginsS3Path="plugins.zip", LoggingConfiguration=logging))
        # While it starts: a script that overruns fails the create with the reason, before any Airflow process starts.
        mwaa.client().create_environment(**mwaa.environment_request(
            "startup-overrun", prereq, notebook, StartupScriptS3Path="overrun.sh", StartupScriptS3ObjectVersion=overrun))
        with pytest.raises(Exception, match="CREATE_FAILED"):
            mwaa.wait_for_status("startup-overrun", "AVAILABLE", timeout=30)
        error = mwaa.describe("startup-overrun")["LastUpdate"]["Error"]
        assert error["ErrorMessage"].startswith("The startup script of the worker did not finish within 2 seconds")
        mwaa.delete_environment("startup-overrun", timeout=30)

        mwaa.wait_for_status(name, "AVAILABLE", timeout=120)
        api = mwaa.AirflowApi(name)
        api.wait_for_dag("startup_env", timeout=60)
        run_id, state = api.run("startup_env", timeout=120)
        assert state == "success"
        assert api.xcom("startup_env", run_id, "read_env") == {
            "WORKER_ONLY": "v1", "SCHEDULER_ONLY": None, "MWAA_AIRFLOW_COMPONENT": "worker", "mark": "from plugins.zip"}
        plugins = [p["name"] for p in api.call("GET", "/plugins")["plugins"]]
        assert "startup_probe" in plugins and "aws_mwaa_login_emulated" in plugins
        errors = api.call("GET", "/plugins/importErrors")["import_errors"]
        assert [e["source"].rsplit("/", 1)[-1] for e in errors] == ["broken_plugin.py"]
        assert "no_such_module_anywhere" in errors[0]["error"]
        for group, component in (("Worker", "worker"), ("Scheduler", "scheduler"), ("WebServer", "webserver")):
            streams = logs.describe_log_streams(logGroupName=f"airflow-{name}-{group}",
                                                logStreamNamePrefix="startup_script_execution_")["logStreams"]
            events = logs.get_log_events(logGroupName=f"airflow-{name}-{group}", logStreamName=streams[0]["logStreamName"],
                                         startFromHead=True)["events"]
            text = [e["message"] for e in events]
            assert f"[INFO] - startup for {component}" in text
            assert any("set PYTHONPATH, which Amazon MWAA reserves" in line for line in text)
        listing = logs.describe_log_streams(logGroupName=f"airflow-{name}-Scheduler", logStreamNamePrefix="plugins_")
        assert len(listing["logStreams"]) == 1
    finally:
        settings(startup_script_timeout_seconds=startup_script.TIMEOUT_SECONDS)
        for env in ("startup-overrun", name):
            mwaa.delete_environment(env, timeout=60)


def settings(**values) -> None:
    from helpers import localcloud

    urllib.request.urlopen(urllib.request.Request(f"{localcloud.endpoint()}/_workbook/mwaa/config", method="POST",
                                                  data=json.dumps(values).encode()), timeout=10)

