"""An environment's requirements.txt in the local MWAA: read from S3 at its object version when the environment starts,
resolved against its Airflow version's constraints before anything is installed, installed into the environment's
overlay folder, logged in the `requirements_install_…` streams; a conflict fails the create or update with the reason
in LastUpdate.Error. First with fake Airflow runtimes (an in-process emulator against the module's local cloud, as
test_mwaa_state_machine), then one real environment whose DAG imports the package it asked for.

The package is `ply` (pure Python, 270 KB installed, not pinned by MWAA 3.3.1's or 3.2.1's constraints, not in the
workbook's .venv; uv finds it in its cache or on the package index, as `make install` does)."""

from __future__ import annotations

import io
import threading
import zipfile

import boto3
import pytest
from botocore.config import Config
from werkzeug.serving import make_server

from helpers import localcloud
from helpers.aws import cloud, mwaa
from helpers.localcloud.emulators.mwaa import MwaaEmulator, requirements, runtime
from helpers.procs import wait_until
from tests.unit.test_mwaa_requirements import wheel
from tests.unit.test_mwaa_state_machine import FakeRuntime, FakeSync

NB = "tests-mwaa-req"
PACKAGE = "ply"  # the package the tests and notebook 10 add (see the module docstring)
CONFLICT = "sqlalchemy==1.3.0\n"  # MWAA's essential constraints pin SQLAlchemy
WORKER_GROUPS = ("Worker", "Scheduler", "WebServer")  # the image's containers that install and log the file
LOGGING = {m: {"Enabled": True, "LogLevel": "INFO"} for m in ("SchedulerLogs", "WorkerLogs", "WebserverLogs")}


@pytest.fixture(scope="module")
def local(module_cloud, tmp_path_factory):
    """An in-process MWAA emulator with fake Airflow runtimes, against the module's local cloud."""
    FakeRuntime.start_gate.set()  # fakes that start and are healthy at once
    FakeRuntime.healthy_gate.set()
    FakeRuntime.exit_reason = None
    prereq = mwaa.create_prerequisites(NB, "tests-req-env")
    root = tmp_path_factory.mktemp("fake-mwaa")
    emulator = MwaaEmulator(str(root), localcloud.endpoint(), FakeRuntime, FakeSync)
    server = make_server("127.0.0.1", 0, emulator, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mw = boto3.client("mwaa", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{server.server_port}",
                      aws_access_key_id="testing", aws_secret_access_key="testing",
                      config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))
    try:
        yield {"prereq": prereq, "mwaa": mw, "root": root / "mwaa"}
    finally:
        server.shutdown()


def put(local, key: str, body: str | bytes) -> str:
    data = body.encode() if isinstance(body, str) else body
    return cloud.client("s3").put_object(Bucket=local["prereq"].bucket, Key=key, Body=data)["VersionId"]


BUSY = ("CREATING", "UPDATING", "PENDING", "ROLLING_BACK")


def settled(describe, timeout: float = 120) -> dict:
    """The environment `describe()` gives once no operation runs on it (AVAILABLE or a failure status)."""
    seen = {}

    def done() -> bool:
        seen.update(describe())
        return seen["Status"] not in BUSY

    wait_until(done, timeout, "the environment's operation to end", interval=0.2)
    return seen


def settle(local, name: str) -> dict:
    return settled(lambda: local["mwaa"].get_environment(Name=name)["Environment"])


def delete(local, name: str) -> None:
    try:
        local["mwaa"].delete_environment(Name=name)
    except local["mwaa"].exceptions.ResourceNotFoundException:
        return
    wait_until(lambda: name not in local["mwaa"].list_environments()["Environments"], 30, f"{name} deleted", interval=0.2)


def overlay(local, name: str):
    return local["root"] / name / "us-east-1" / "airflow" / requirements.FOLDER


def streams(name: str, back: int = 0) -> dict[str, list[str]]:
    """Each worker/scheduler/web server log group's newest requirements_install stream's messages (`back`: that many
    streams before the newest)."""
    logs, found = cloud.client("logs"), {}
    for group in WORKER_GROUPS:
        named = logs.describe_log_streams(logGroupName=f"airflow-{name}-{group}",
                                          logStreamNamePrefix="requirements_install_")["logStreams"]
        newest = sorted(named, key=lambda s: s["logStreamName"])[-1 - back]["logStreamName"]
        found[group] = [e["message"] for e in logs.get_log_events(logGroupName=f"airflow-{name}-{group}",
                                                                  logStreamName=newest, startFromHead=True)["events"]]
    return found


def runtime_of(name: str):
    return [r for r in FakeRuntime.instances if f"/{name}/" in str(r.home)][-1]


def test_the_object_version_asked_for_is_installed_and_a_failed_update_keeps_the_overlay(local):
    name = "req-versions"
    wanted = put(local, "requirements/versions.txt", f"{PACKAGE}\n")
    conflicting = put(local, "requirements/versions.txt", CONFLICT)  # the newest version: not the one asked for
    try:
        local["mwaa"].create_environment(**mwaa.environment_request(
            name, local["prereq"], NB, RequirementsS3Path="requirements/versions.txt",
            RequirementsS3ObjectVersion=wanted, LoggingConfiguration=LOGGING))
        env = settle(local, name)
        assert env["Status"] == "AVAILABLE", env.get("LastUpdate")
        assert env["RequirementsS3Path"] == "requirements/versions.txt" and env["RequirementsS3ObjectVersion"] == wanted
        installed = overlay(local, name)
        assert (installed / PACKAGE / "__init__.py").exists()
        assert runtime_of(name).requirements_folder == installed
        for group, lines in streams(name).items():
            assert lines[0] == f"[INFO] - Installing user requirements from requirements/versions.txt (version {wanted}) " \
                               "(uv, as the local MWAA installs them)", group
            assert [f"[WARNING] - {w}" for w in requirements.NO_CONSTRAINTS_WARNINGS] == lines[1:3]
            assert lines[-1] == "[INFO] - Successfully installed ply-3.11"
        local_log = local["root"] / name / "us-east-1" / "airflow" / "logs" / "requirements_install.log"
        assert local_log.read_text().splitlines()[-1] == "[INFO] - Successfully installed ply-3.11"

        local["mwaa"].update_environment(Name=name, RequirementsS3ObjectVersion=conflicting)
        env = settle(local, name)
        error = env["LastUpdate"]["Error"]
        assert env["LastUpdate"]["Status"] == "FAILED" and error["ErrorCode"] == "INCORRECT_CONFIGURATION"
        assert "sqlalchemy==1.3.0" in error["ErrorMessage"]
        assert error["ErrorMessage"].endswith(requirements.INSTALL_FAILED)
        # rolled back: refused before the running Airflow was touched (lifecycle._resolve_early), nothing reinstalled
        assert env["Status"] == "UPDATE_FAILED" and env["RequirementsS3ObjectVersion"] != conflicting
        assert (installed / PACKAGE / "__init__.py").exists()
        assert streams(name)["Worker"][-1] == f"[ERROR] - {requirements.INSTALL_FAILED}"
        assert streams(name, back=1)["Worker"][-1] == "[INFO] - Successfully installed ply-3.11"
    finally:
        delete(local, name)


@pytest.mark.parametrize("text, named", [
    ("apache-airflow==2.10.1\n", "apache-airflow==2.10.1"),  # an essential pin
    ("--no-index\nno-such-package-xyz\n", "no-such-package-xyz was not found"),  # an unknown package (offline)
])
def test_a_requirement_that_does_not_resolve_fails_the_create_before_airflow_starts(local, text, named):
    name = "req-refused"
    version = put(local, "requirements/refused.txt", text)
    try:
        local["mwaa"].create_environment(**mwaa.environment_request(
            name, local["prereq"], NB, RequirementsS3Path="requirements/refused.txt", RequirementsS3ObjectVersion=version,
            LoggingConfiguration=LOGGING))
        env = settle(local, name)
        assert env["Status"] == "CREATE_FAILED"
        error = env["LastUpdate"]["Error"]
        assert error["ErrorCode"] == "INCORRECT_CONFIGURATION"
        assert error["ErrorMessage"].startswith("error: No solution found when resolving dependencies")
        assert named in error["ErrorMessage"] and error["ErrorMessage"].endswith(requirements.INSTALL_FAILED)
        assert not runtime_of(name).running  # resolved before any Airflow process could start
        assert not overlay(local, name).exists()
        for lines in streams(name).values():
            assert any(named in line for line in lines) and lines[-1] == f"[ERROR] - {requirements.INSTALL_FAILED}"
    finally:
        delete(local, name)


def test_an_unreadable_object_fails_the_create_as_for_plugins(local):
    name = "req-missing"
    try:
        local["mwaa"].create_environment(**mwaa.environment_request(
            name, local["prereq"], NB, RequirementsS3Path="requirements/none-here.txt"))
        env = settle(local, name)
        assert env["Status"] == "CREATE_FAILED"
        assert env["LastUpdate"]["Error"]["ErrorMessage"] == (
            f"Unable to read the RequirementsS3Path object s3://{local['prereq'].bucket}/requirements/none-here.txt: NoSuchKey.")
    finally:
        delete(local, name)


def test_a_wheel_shipped_in_plugins_zip_is_installed_offline(local, tmp_path, monkeypatch):
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))  # the hand-made wheel stays out of the machine's
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        path = wheel(tmp_path, "zip-shipped", "1.0")
        zf.write(path, path.name)
    name = "req-plugins"
    put(local, "plugins/wheels.zip", archive.getvalue())
    put(local, "requirements/offline.txt", "--no-index\n--find-links /usr/local/airflow/plugins\nzip-shipped\n")
    try:
        local["mwaa"].create_environment(**mwaa.environment_request(
            name, local["prereq"], NB, PluginsS3Path="plugins/wheels.zip", RequirementsS3Path="requirements/offline.txt"))
        env = settle(local, name)
        assert env["Status"] == "AVAILABLE", env.get("LastUpdate")
        assert (overlay(local, name) / "zip_shipped" / "__init__.py").read_text() == "VERSION = '1.0'\n"
    finally:
        delete(local, name)


def test_the_overlay_comes_after_the_local_mwaas_modules_on_every_components_pythonpath(tmp_path):
    airflow = runtime.AirflowRuntime(tmp_path / "airflow", tmp_path / "dags", tmp_path / "cache", {}, tmp_path)
    assert airflow.environment({}, None, "INFO")["PYTHONPATH"] == str(runtime.AIRFLOW_PYTHONPATH)
    airflow.requirements_folder = tmp_path / "airflow" / requirements.FOLDER
    assert airflow.environment({}, None, "INFO")["PYTHONPATH"] == f"{runtime.AIRFLOW_PYTHONPATH}:{airflow.requirements_folder}"


def test_the_error_message_fits_last_updates_limit_and_keeps_mwaas_words():
    short = f"error: nope\n{requirements.INSTALL_FAILED}"
    assert requirements.error_message(short) == short
    long = "error: No solution\n" + "  because x depends on y\n" * 100 + requirements.INSTALL_FAILED
    capped = requirements.error_message(long)
    assert len(capped) == requirements.MAX_ERROR_MESSAGE
    assert capped.startswith("error: No solution\n") and capped.endswith(f"\n...\n{requirements.INSTALL_FAILED}")


def test_a_success_logs_what_was_installed_and_what_was_already_there():
    resolution = requirements.Resolution(ok=True, pins=("ply==3.11", "six==1.17.0"))
    done = requirements.Installed(ok=True, packages=("ply==3.11",))
    lines = [text for _, text in requirements.log_lines("requirements.txt", resolution, done)]
    assert lines[1:] == ["[INFO] - Successfully installed ply-3.11", "[INFO] - Requirement already satisfied: six==1.17.0"]
    assert requirements.stream_name("ip-10-0-1-2", 12.5) == "requirements_install_ip-10-0-1-2_12.5.log"


# ---- one real environment ----

DAG = f'''
import {PACKAGE}  # at the top: the DAG processor must import it too

from airflow.sdk import dag, task


@dag(schedule=None)
def uses_requirement():
    @task
    def where():
        return {{"version": {PACKAGE}.__version__, "file": {PACKAGE}.__file__}}

    where()


uses_requirement()
'''


def test_a_real_environment_imports_its_requirement_and_a_conflicting_update_fails(module_cloud):
    name = "req-real"
    prereq = mwaa.create_prerequisites(NB, name)
    s3 = cloud.client("s3")
    s3.put_object(Bucket=prereq.bucket, Key="dags/uses_requirement.py", Body=DAG.encode())
    s3.put_object(Bucket=prereq.bucket, Key="requirements.txt", Body=f"{PACKAGE}\n".encode())
    try:
        mwaa.client().create_environment(**mwaa.environment_request(
            name, prereq, NB, RequirementsS3Path="requirements.txt", LoggingConfiguration=LOGGING))
        mwaa.wait_for_status(name, "AVAILABLE", timeout=180)
        api = mwaa.AirflowApi(name)
        api.wait_for_dag("uses_requirement", timeout=90)
        run_id, state = api.run("uses_requirement", timeout=120)
        assert state == "success"
        seen = api.xcom("uses_requirement", run_id, "where")
        assert seen["version"] == "3.11"
        assert f"/airflow/{requirements.FOLDER}/{PACKAGE}/__init__.py" in seen["file"] and "/.venv/" not in seen["file"]

        conflicting = s3.put_object(Bucket=prereq.bucket, Key="requirements.txt", Body=CONFLICT.encode())["VersionId"]
        mwaa.client().update_environment(Name=name, RequirementsS3ObjectVersion=conflicting)
        env = settled(lambda: mwaa.describe(name))
        assert env["LastUpdate"]["Status"] == "FAILED"
        assert "sqlalchemy==1.3.0" in env["LastUpdate"]["Error"]["ErrorMessage"]
        assert env["LastUpdate"]["Error"]["ErrorMessage"].endswith(requirements.INSTALL_FAILED)
        assert env["Status"] == "UPDATE_FAILED"  # rolled back: the previous requirements.txt, Airflow still running
        worker = streams(name)["Worker"]
        assert any("sqlalchemy==1.3.0" in line for line in worker) and worker[-1] == f"[ERROR] - {requirements.INSTALL_FAILED}"
        assert api.call("GET", f"/dags/uses_requirement/dagRuns/{run_id}")["state"] == "success"
    finally:
        mwaa.delete_environment(name, timeout=60)
