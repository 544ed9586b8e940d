"""The local MWAA's state machine, regions and validation, with fake Airflow runtimes (no Airflow processes).

An MwaaEmulator runs in this process on its own port, with injected runtime, sync and interpreter factories (no
version's venv is made), against a real local cloud (moto behind the gateway) for IAM, S3, EC2, SQS and EventBridge;
the stock boto3 `mwaa` client talks to it over HTTP. The real Airflow path is covered end to end in
test_mwaa_emulator.py (create, update, delete) and test_mwaa_upgrade.py (rollback and upgrade).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from contextlib import closing
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config
from werkzeug.serving import make_server

from helpers import localcloud
from helpers.aws import cloud, iam, mwaa, network, s3
from helpers.chapters.deferrable_operators import deferral
from helpers.errors import WorkbookError
from helpers.localcloud.emulators.mwaa import MwaaEmulator
from helpers.localcloud.emulators.mwaa.validation import AIRFLOW_VERSIONS, INSTALLED_AIRFLOW
from helpers.procs import wait_until
from helpers.versions import MWAA_VERSION

NB = "tests-mwaa-sm"


BAD_OPTIONS = {"core.parallelism": "many"}  # what real Airflow refuses to start with (test_mwaa_emulator.py)


def fake_python(version: str) -> Path:
    """Stands in for versions.python_for: no venv is made."""
    return Path(f"/fake-airflow/{version}/bin/python")


class FakeRuntime:
    """Stands in for AirflowRuntime: its public methods, gated by events the test controls. Its metadata DB is a real
    SQLite file with one table, `migrated`, where the fake `migrate` writes the version it migrated to."""

    instances: list[FakeRuntime] = []
    start_gate = threading.Event()    # start() returns once set
    healthy_gate = threading.Event()  # healthy() is True once set
    exit_reason: str | None = None
    migrate_error: str | None = None  # the next migrations fail with this output

    def __init__(self, home, dags, cache_dir, aws_env, python=None):
        self.home, self.env, self.running, self.port, self.aws_env = home, {}, False, 1, aws_env
        self.python, self.options = python, {}
        FakeRuntime.instances.append(self)

    url = "http://127.0.0.1:1"

    @staticmethod
    def migrate(python, db, home):
        if FakeRuntime.migrate_error:
            return subprocess.CompletedProcess([], 1, "", FakeRuntime.migrate_error)
        with closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("INSERT INTO migrated VALUES (?)", (str(python),))
        return subprocess.CompletedProcess([], 0, f"Migrating with {python}\nDatabase migrating done!\n", "")

    def start(self, options, task_log_group_arn=None, log_level="INFO"):
        # Like AirflowRuntime.start, components are spawned one after another: a stop() in between leaves the later ones.
        self.running, self.options = True, dict(options)
        self.home.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.home / "airflow.db")) as conn, conn:
            conn.execute("CREATE TABLE IF NOT EXISTS migrated (python TEXT)")
        FakeRuntime.start_gate.wait(30)
        self.running = True

    def stop(self):
        self.running = False

    def exited(self):
        if BAD_OPTIONS.items() <= self.options.items():
            return "Airflow scheduler exited: ValueError: could not convert string to float: 'many'"  # 3.3.1's words
        return FakeRuntime.exit_reason

    def healthy(self):
        return FakeRuntime.healthy_gate.is_set()

    def token(self):
        return "fake"

    def call(self, method, path, query=None, body=None):
        return 200, {"dags": [], "total_entries": 0}


class FakeSync:
    def __init__(self, s3_client, bucket, prefix, folder):
        self.error = None

    def start(self):
        pass

    def stop(self):
        pass


@pytest.fixture(scope="module")
def local(module_cloud, tmp_path_factory):
    """The module's local cloud, plus an in-process MWAA emulator with fake Airflow runtimes served beside it."""
    prereq = mwaa.create_prerequisites(NB, "tests-sm-env")
    emulator = MwaaEmulator(str(tmp_path_factory.mktemp("fake-mwaa")), localcloud.endpoint(), FakeRuntime, FakeSync,
                            fake_python)
    server = make_server("127.0.0.1", 0, emulator, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {"prereq": prereq, "emulator": emulator, "url": f"http://127.0.0.1:{server.server_port}"}
    finally:
        server.shutdown()


@pytest.fixture(autouse=True)
def gates():
    FakeRuntime.start_gate.set()
    FakeRuntime.healthy_gate.set()
    FakeRuntime.exit_reason = FakeRuntime.migrate_error = None
    yield
    FakeRuntime.start_gate.set()
    FakeRuntime.healthy_gate.set()


def client(local, region="us-east-1"):
    return boto3.client("mwaa", region_name=region, endpoint_url=local["url"], aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))


def request(local, name, **overrides):
    return mwaa.environment_request(name, local["prereq"], NB, **overrides)


def status(local, name, region="us-east-1"):
    try:
        return client(local, region).get_environment(Name=name)["Environment"]["Status"]
    except client(local).exceptions.ResourceNotFoundException:
        return None


def wait_status(local, name, wanted, timeout=20, region="us-east-1"):
    wait_until(lambda: status(local, name, region) == wanted, timeout, f"{name} {wanted}", interval=0.1)


def error_of(call) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def mine(name):
    return [r for r in FakeRuntime.instances if name in str(r.home)]


def delete_and_wait(local, name, region="us-east-1"):
    if status(local, name, region) not in (None, "DELETING"):
        client(local, region).delete_environment(Name=name)
    wait_status(local, name, None, region=region)


def test_airflow_signs_in_as_the_execution_role(local):
    """As on MWAA, Airflow's AWS calls are the execution role's (EKS's access mapping, for one, maps that role)."""
    client(local).create_environment(**request(local, "sm-identity"))
    wait_status(local, "sm-identity", "AVAILABLE")
    env = mine("sm-identity")[-1].aws_env
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], aws_session_token=env["AWS_SESSION_TOKEN"])
    role = local["prereq"].role_arn.rsplit("/", 1)[-1]
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::123456789012:assumed-role/{role}/AmazonMWAA-airflow"
    assert json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["aws_session_token"] == env["AWS_SESSION_TOKEN"]
    delete_and_wait(local, "sm-identity")


def test_delete_while_creating_ends_deleted_and_stops_the_runtime_being_started(local):
    FakeRuntime.start_gate.clear()  # the create thread is inside runtime.start(): processes exist, start not returned
    client(local).create_environment(**request(local, "c-d"))
    wait_until(lambda: any(r.running for r in mine("c-d")), 10, "runtime starting")
    client(local).delete_environment(Name="c-d")
    FakeRuntime.start_gate.set()
    wait_status(local, "c-d", None)
    time.sleep(1)  # the create thread had no chance to bring it back
    assert status(local, "c-d") is None
    assert [r.running for r in mine("c-d")] == [False]


def test_delete_while_waiting_for_health_ends_deleted(local):
    FakeRuntime.healthy_gate.clear()
    client(local).create_environment(**request(local, "c-d2"))
    wait_until(lambda: any(r.running for r in mine("c-d2")), 10, "runtime started")
    started = time.monotonic()
    client(local).delete_environment(Name="c-d2")
    wait_status(local, "c-d2", None)
    assert time.monotonic() - started < 5, "the create thread stops waiting for Airflow when superseded"
    FakeRuntime.healthy_gate.set()
    time.sleep(1)
    assert status(local, "c-d2") is None
    assert not any(r.running for r in mine("c-d2"))


def test_update_delete_and_update_update(local):
    name, mw = "u-d", client(local)
    mw.create_environment(**request(local, name))
    wait_status(local, name, "AVAILABLE")

    # Two concurrent updates: one runs, the other is refused as MWAA refuses it.
    FakeRuntime.healthy_gate.clear()
    results: list = []

    def update():
        try:
            mw.update_environment(Name=name, AirflowConfigurationOptions={"core.parallelism": "8"})
            results.append("ok")
        except botocore.exceptions.ClientError as exc:
            results.append((exc.response["Error"]["Code"], exc.response["Error"]["Message"]))

    threads = [threading.Thread(target=update) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == sorted(["ok", ("ValidationException", "Environments with UPDATING status cannot be updated.")],
                                              key=str)
    assert status(local, name) == "UPDATING"
    wait_until(lambda: len(mine(name)) == 2 and mine(name)[1].running, 10, "the update's runtime")
    assert [r.running for r in mine(name)] == [False, True]  # the old one stopped, one new one: not two

    # Delete during the update: DELETED, nothing left running, and it does not come back.
    mw.delete_environment(Name=name)
    wait_status(local, name, None)
    FakeRuntime.healthy_gate.set()
    time.sleep(1)
    assert status(local, name) is None
    assert len(mine(name)) == 2 and not any(r.running for r in mine(name))


def test_update_and_delete_refused_where_aws_refuses(local):
    name, mw = "refusals", client(local)
    FakeRuntime.healthy_gate.clear()
    mw.create_environment(**request(local, name))
    assert error_of(lambda: mw.update_environment(Name=name, MaxWorkers=3)) == (
        "ValidationException", "Environments with CREATING status cannot be updated.")
    FakeRuntime.exit_reason = "Airflow scheduler exited: boom"
    wait_status(local, name, "CREATE_FAILED")
    assert error_of(lambda: mw.update_environment(Name=name, MaxWorkers=3)) == (
        "ValidationException", "Environments with CREATE_FAILED status cannot be updated.")
    assert not any(r.running for r in mine(name))
    mw.delete_environment(Name=name)
    assert error_of(lambda: mw.delete_environment(Name=name))[0] in ("ValidationException", "ResourceNotFoundException")
    wait_status(local, name, None)


def test_list_during_transitions_never_fails(local):
    mw, stop, failures, seen = client(local), threading.Event(), [], set()

    def lister():
        while not stop.is_set():
            try:
                seen.update(mw.list_environments()["Environments"])
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(exc)

    thread = threading.Thread(target=lister)
    thread.start()
    try:
        for i in range(3):
            mw.create_environment(**request(local, f"l-{i}"))
        for i in range(3):
            mw.delete_environment(Name=f"l-{i}")
        for i in range(3):
            wait_status(local, f"l-{i}", None)
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert {"l-0", "l-1", "l-2"} <= seen
    assert mw.list_environments()["Environments"] == []


def test_same_name_in_two_regions(local):
    ec2 = cloud.client("ec2", region_name="us-west-2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{i}.0/24", AvailabilityZone=z)["Subnet"]["SubnetId"]
               for i, z in enumerate(zones)]
    group = ec2.create_security_group(GroupName="west", Description="west", VpcId=vpc)["GroupId"]
    west_net = {"SubnetIds": subnets, "SecurityGroupIds": [group]}
    east, west = client(local, "us-east-1"), client(local, "us-west-2")
    try:
        east_arn = east.create_environment(**request(local, "twin"))["Arn"]
        west_arn = west.create_environment(**request(local, "twin", NetworkConfiguration=west_net))["Arn"]
        assert (east_arn.split(":")[3], west_arn.split(":")[3]) == ("us-east-1", "us-west-2")
        wait_status(local, "twin", "AVAILABLE")
        wait_status(local, "twin", "AVAILABLE", region="us-west-2")
        assert east.list_environments()["Environments"] == ["twin"] == west.list_environments()["Environments"]
        assert client(local, "eu-west-1").list_environments()["Environments"] == []
        assert west.get_environment(Name="twin")["Environment"]["NetworkConfiguration"]["SubnetIds"] == subnets
        west.tag_resource(ResourceArn=west_arn, Tags={"side": "west"})
        assert "side" not in east.list_tags_for_resource(ResourceArn=east_arn)["Tags"]
        west.delete_environment(Name="twin")
        wait_status(local, "twin", None, region="us-west-2")
        assert status(local, "twin") == "AVAILABLE"
    finally:
        delete_and_wait(local, "twin")
        delete_and_wait(local, "twin", "us-west-2")


def test_airflow_versions(local):
    mw = client(local)
    code, text = error_of(lambda: mw.create_environment(**request(local, "v2", AirflowVersion="2.10.3")))
    assert code == "ValidationException" and "3.0.6, 3.2.1, 3.3.1" in text
    assert AIRFLOW_VERSIONS == ("3.0.6", "3.2.1", "3.3.1") and INSTALLED_AIRFLOW == MWAA_VERSION
    mw.create_environment(**request(local, "v32", AirflowVersion="3.2.1"))
    try:
        env = mw.get_environment(Name="v32")["Environment"]
        assert env["AirflowVersion"] == "3.2.1"
        assert not [tag for tag in env["Tags"] if tag.startswith("localmwaa:")]  # it runs as itself: nothing to note
        wait_status(local, "v32", "AVAILABLE")
        assert mine("v32")[-1].python == fake_python("3.2.1")  # the version asked for is the one that runs
        mw.update_environment(Name="v32", AirflowVersion="3.3.1")
        wait_status(local, "v32", "AVAILABLE")
        assert mine("v32")[-1].python == fake_python("3.3.1") and mine("v32")[-1].running
        code, text = error_of(lambda: mw.update_environment(Name="v32", AirflowVersion="3.2.1"))
        assert code == "ValidationException" and "does not support updates to version 3.2.1" in text
    finally:
        delete_and_wait(local, "v32")


@pytest.fixture
def statuses(monkeypatch):
    """Every status each environment took, in order: recorded where the backend emits its status-change events."""
    from helpers.localcloud.emulators.mwaa.backend import MwaaBackend

    seen: dict[str, list[str]] = {}
    emit = MwaaBackend.emit

    def recording(self, env, previous):
        seen.setdefault(env.name, []).append(env.status)
        emit(self, env, previous)

    monkeypatch.setattr(MwaaBackend, "emit", recording)
    return seen


def wait_rolled_back(name: str) -> str:
    """helpers.aws.mwaa's wait, as the notebooks wait for an update: the one-line error it raises."""
    with pytest.raises(WorkbookError) as err:
        mwaa.wait_for_status(name, "AVAILABLE", timeout=20, poll=0.05)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_an_update_that_does_not_start_rolls_back_to_update_failed_and_a_failed_rollback_ends_unavailable(local, statuses, monkeypatch):
    name, mw = "rollback", client(local)
    monkeypatch.setattr(mwaa, "client", lambda: mw)
    mw.create_environment(**request(local, name, AirflowConfigurationOptions={"core.parallelism": "8"}))
    wait_status(local, name, "AVAILABLE")
    try:
        # The new configuration does not start: ROLLING_BACK, then UPDATE_FAILED running the previous one, LastUpdate
        # FAILED (the in-place upgrade post's words: "your previous stable environment will be available and the
        # status will display as UPDATE_FAILED until a new update is attempted and succeeds").
        mw.update_environment(Name=name, AirflowConfigurationOptions=BAD_OPTIONS)
        reason = "Airflow scheduler exited: ValueError: could not convert string to float: 'many'"
        assert wait_rolled_back(name) == (f"Environment {name}'s update failed and was rolled back (UPDATE_FAILED, "
                                          f"running its previous configuration): {reason}")
        assert statuses[name] == ["CREATING", "AVAILABLE", "UPDATING", "ROLLING_BACK", "UPDATE_FAILED"]
        env = mw.get_environment(Name=name)["Environment"]
        assert env["AirflowConfigurationOptions"] == {"core.parallelism": "8"}
        assert (env["LastUpdate"]["Status"], env["LastUpdate"]["Source"]) == ("FAILED", "UpdateEnvironment")
        assert env["LastUpdate"]["Error"] == {"ErrorCode": "AIRFLOW_START_FAILED", "ErrorMessage": reason}
        assert [r.running for r in mine(name)] == [False, False, True]  # the first, the update's, the rollback's
        assert mine(name)[-1].options == {"core.parallelism": "8"}
        # it serves Airflow calls on the previous configuration
        assert mw.invoke_rest_api(Name=name, Path="/version", Method="GET")["RestApiStatusCode"] == 200

        # Nothing starts, not even the previous configuration: UNAVAILABLE, nothing left running.
        FakeRuntime.exit_reason = "Airflow api-server exited: address already in use"
        mw.update_environment(Name=name, AirflowConfigurationOptions={"core.parallelism": "6"})
        wait_status(local, name, "UNAVAILABLE")
        assert statuses[name][-3:] == ["UPDATING", "ROLLING_BACK", "UNAVAILABLE"]
        error = mw.get_environment(Name=name)["Environment"]["LastUpdate"]["Error"]["ErrorMessage"]
        assert error == f"{FakeRuntime.exit_reason} The rollback failed too: {FakeRuntime.exit_reason}"
        assert not any(r.running for r in mine(name))
        with pytest.raises(WorkbookError, match=f"Environment {name} is UNAVAILABLE: Airflow api-server exited"):
            mwaa.wait_for_status(name, "AVAILABLE", timeout=5)

        # UNAVAILABLE may be updated; a good update succeeds and says so.
        FakeRuntime.exit_reason = None
        mw.update_environment(Name=name, AirflowConfigurationOptions={"core.parallelism": "6"})
        mwaa.wait_for_status(name, "AVAILABLE", timeout=20, poll=0.05)
        last = mw.get_environment(Name=name)["Environment"]["LastUpdate"]
        assert last["Status"] == "SUCCESS" and "Error" not in last
    finally:
        delete_and_wait(local, name)


def test_a_rollback_restores_the_s3_objects_the_environment_ran_not_the_newest(local, statuses):
    """On MWAA a rollback restores the environment's snapshot; a plugins.zip named without a version must not be
    re-read at S3's newest version, which may be what broke the update."""
    import io
    import zipfile

    def zipped(name: str) -> bytes:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(name, "")
        return archive.getvalue()

    name, mw, bucket = "rollback-objects", client(local), local["prereq"].bucket
    s3c = cloud.client("s3")
    s3c.put_object(Bucket=bucket, Key="rollback/plugins.zip", Body=zipped("first_plugin.py"))
    mw.create_environment(**request(local, name, PluginsS3Path="rollback/plugins.zip"))
    try:
        wait_status(local, name, "AVAILABLE")
        folder = mine(name)[-1].home / "plugins"
        assert (folder / "first_plugin.py").exists()
        s3c.put_object(Bucket=bucket, Key="rollback/plugins.zip", Body=zipped("second_plugin.py"))
        mw.update_environment(Name=name, AirflowConfigurationOptions=BAD_OPTIONS)
        wait_until(lambda: statuses[name][-1:] == ["UPDATE_FAILED"] and "ROLLING_BACK" in statuses[name], 20, "rolled back")
        assert (folder / "first_plugin.py").exists() and not (folder / "second_plugin.py").exists()
        assert "PluginsS3ObjectVersion" not in mw.get_environment(Name=name)["Environment"]  # the configuration as given
    finally:
        delete_and_wait(local, name)


def migrated(runtime) -> list[str]:
    with closing(sqlite3.connect(runtime.home / "airflow.db")) as conn:
        return [row[0] for row in conn.execute("SELECT python FROM migrated")]


def test_an_upgrade_snapshots_migrates_and_restores_the_snapshot_when_it_fails(local, statuses, monkeypatch):
    name, mw = "upgrade", client(local)
    monkeypatch.setattr(mwaa, "client", lambda: mw)
    mw.create_environment(**request(local, name, AirflowVersion="3.0.6"))
    wait_status(local, name, "AVAILABLE")
    first = mine(name)[-1]
    upgrade_log = first.home / "logs" / "upgrade.log"
    try:
        # Migrated, then the target does not start: the snapshot and 3.0.6 come back.
        mw.update_environment(Name=name, AirflowVersion="3.3.1", AirflowConfigurationOptions=BAD_OPTIONS)
        assert "could not convert string to float" in wait_rolled_back(name)
        assert statuses[name][2:] == ["UPDATING", "CREATING_SNAPSHOT", "UPDATING", "ROLLING_BACK", "UPDATE_FAILED"]
        env = mw.get_environment(Name=name)["Environment"]
        assert (env["AirflowVersion"], env["AirflowConfigurationOptions"]) == ("3.0.6", {})
        assert env["LastUpdate"]["Error"]["ErrorCode"] == "AIRFLOW_START_FAILED"
        target, back = mine(name)[-2:]
        assert (target.python, target.running) == (fake_python("3.3.1"), False)
        assert (back.python, back.running) == (fake_python("3.0.6"), True)
        assert migrated(back) == []  # 3.3.1's migration was undone: the DB is the snapshot
        log = upgrade_log.read_text()
        assert "Upgrading Airflow 3.0.6 to 3.3.1: airflow db migrate (3.3.1)" in log
        assert f"Migrating with {fake_python('3.3.1')}" in log and "airflow db migrate succeeded" in log

        # The migration fails: rolled back before any target component starts.
        FakeRuntime.migrate_error = "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked"
        mw.update_environment(Name=name, AirflowVersion="3.3.1")
        assert wait_rolled_back(name).endswith(f"airflow db migrate (3.3.1) failed: {FakeRuntime.migrate_error}")
        assert mw.get_environment(Name=name)["Environment"]["LastUpdate"]["Error"]["ErrorCode"] == "DB_MIGRATION_FAILED"
        assert [r.python for r in mine(name)[-2:]] == [fake_python("3.0.6")] * 2  # no 3.3.1 runtime this time
        assert "airflow db migrate failed (exit status 1)" in upgrade_log.read_text()
        FakeRuntime.migrate_error = None

        # The target version cannot be installed: nothing was snapshotted or stopped before that.
        python_for = local["emulator"].shared.python_for

        def no_target(version):
            if version == "3.3.1":
                raise RuntimeError("Making the Airflow environment 3.3.1 failed (uv pip install):\n  no network")
            return python_for(version)

        monkeypatch.setattr(local["emulator"].shared, "python_for", no_target)
        mw.update_environment(Name=name, AirflowVersion="3.3.1")
        assert wait_rolled_back(name).endswith("RuntimeError: Making the Airflow environment 3.3.1 failed (uv pip install): no network")
        assert statuses[name][-3:] == ["UPDATING", "ROLLING_BACK", "UPDATE_FAILED"]
        assert mw.get_environment(Name=name)["Environment"]["LastUpdate"]["Error"]["ErrorCode"] == "AIRFLOW_INSTALL_FAILED"
        monkeypatch.setattr(local["emulator"].shared, "python_for", python_for)

        # It succeeds: UPDATING, CREATING_SNAPSHOT, UPDATING, AVAILABLE on 3.3.1's Airflow and the migrated DB.
        statuses[name].clear()
        mw.update_environment(Name=name, AirflowVersion="3.3.1")
        mwaa.wait_for_status(name, "AVAILABLE", timeout=20, poll=0.05)
        assert statuses[name] == ["UPDATING", "CREATING_SNAPSHOT", "UPDATING", "AVAILABLE"]
        env = mw.get_environment(Name=name)["Environment"]
        assert (env["AirflowVersion"], env["LastUpdate"]["Status"]) == ("3.3.1", "SUCCESS")
        now = mine(name)[-1]
        assert (now.python, now.running, migrated(now)) == (fake_python("3.3.1"), True, [str(fake_python("3.3.1"))])
        with closing(sqlite3.connect(now.home.parent / "snapshot" / "airflow.db")) as snap:
            assert snap.execute("SELECT count(*) FROM migrated").fetchone() == (0,)  # taken before the migration
    finally:
        delete_and_wait(local, name)


def test_a_snapshot_is_consistent_while_another_connection_writes_and_restores_without_its_journal(tmp_path):
    from helpers.localcloud.emulators.mwaa import upgrade

    db = tmp_path / "airflow.db"
    with closing(sqlite3.connect(db)) as writer:
        writer.execute("CREATE TABLE runs (id TEXT)")
        writer.execute("INSERT INTO runs VALUES ('committed')")
        writer.commit()
        writer.execute("INSERT INTO runs VALUES ('in flight')")  # an open transaction: not in the snapshot
        snap = upgrade.snapshot(db, tmp_path / "snapshot" / "airflow.db")
        writer.commit()
    with closing(sqlite3.connect(snap)) as conn:
        assert conn.execute("SELECT id FROM runs").fetchall() == [("committed",)]
    (tmp_path / "airflow.db-journal").write_bytes(b"a hot journal of the DB being replaced")
    upgrade.restore(snap, db)
    assert not (tmp_path / "airflow.db-journal").exists()
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT id FROM runs").fetchall() == [("committed",)]


@pytest.mark.parametrize("option", ["core.executor", "core.sql_alchemy_conn", "database.sql_alchemy_conn", "celery.broker_url",
                                    "celery.result_backend", "webserver.secret_key", "api_auth.jwt_secret", "core.fernet_key",
                                    "logging.remote_logging", "logging.remote_base_log_folder", "core.dags_folder", "api.port"])
def test_blocked_configuration_options_are_refused(local, option):
    code, text = error_of(lambda: client(local).create_environment(
        **request(local, "blocked", AirflowConfigurationOptions={option: "x"})))
    assert code == "ValidationException" and f"'{option}' is managed by Amazon MWAA" in text


def test_the_workbooks_configuration_options_are_accepted_on_create_and_update(local):
    import json

    from helpers.chapters.setup_teardown.secrets_cache import BACKEND, PREFIXES

    mw = client(local)
    cache = {"secrets.use_cache": "True", "secrets.cache_ttl_seconds": "60",  # notebook 04 sets these
             "dag_processor.min_file_process_interval": "30"}
    options = {**cache, "secrets.backend": BACKEND, "secrets.backend_kwargs": json.dumps(PREFIXES),  # and 05 these
               "core.parallelism": "8", "core.default_timezone": "utc", "dag_processor.refresh_interval": "5"}
    mw.create_environment(**request(local, "allowed", AirflowConfigurationOptions=options))
    try:
        wait_status(local, "allowed", "AVAILABLE")
        mw.update_environment(Name="allowed", AirflowConfigurationOptions={**cache, "secrets.use_cache": "False"})
        wait_status(local, "allowed", "AVAILABLE")
        code, text = error_of(lambda: mw.update_environment(Name="allowed", AirflowConfigurationOptions={"core.executor": "x"}))
        assert code == "ValidationException" and "core.executor" in text
    finally:
        delete_and_wait(local, "allowed")


def test_execution_role_account_and_trust(local):
    mw, role = client(local), local["prereq"].role_arn
    other_account = role.replace("123456789012", "210987654321")
    code, text = error_of(lambda: mw.create_environment(**request(local, "r", ExecutionRoleArn=other_account)))
    assert code == "ValidationException" and "is in account 210987654321" in text
    lambda_trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                           "Principal": {"Service": "lambda.amazonaws.com"}}]}
    only_airflow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                           "Principal": {"Service": "airflow.amazonaws.com"}}]}
    for trust, missing in ((lambda_trust, "airflow.amazonaws.com, airflow-env.amazonaws.com"), (only_airflow, "airflow-env.amazonaws.com")):
        arn = cloud.client("iam").create_role(RoleName=f"untrusting-{len(missing)}",
                                              AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        code, text = error_of(lambda arn=arn: mw.create_environment(**request(local, "r", ExecutionRoleArn=arn)))
        assert code == "ValidationException" and text.endswith(f"it does not trust {missing}.")
    assert iam.MWAA_TRUST["Statement"][0]["Principal"]["Service"] == ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]


def test_route_tables_decide_public_and_a_missing_way_out_is_a_warning(local):
    ec2, mw, prereq = cloud.client("ec2"), client(local), local["prereq"]
    net = {"SubnetIds": prereq.network.subnet_ids, "SecurityGroupIds": prereq.network.security_group_ids}

    # The workbook's own network (helpers/aws/network.py) validates, and has the VPC endpoints MWAA needs: no warning.
    mw.create_environment(**request(local, "net-ok"))
    assert "localmwaa:warning" not in mw.get_environment(Name="net-ok")["Environment"]["Tags"]
    delete_and_wait(local, "net-ok")

    # Private subnets with no NAT and no endpoint validate too, with a warning: on AWS the environment cannot start.
    bare = network.create_private_network(f"{NB}-bare", cidr="10.60.0.0/16")
    bare_net = {"SubnetIds": bare.subnet_ids, "SecurityGroupIds": bare.security_group_ids}
    mw.create_environment(**request(local, "net-bare", NetworkConfiguration=bare_net))
    tags = mw.get_environment(Name="net-bare")["Environment"]["Tags"]
    assert tags["localmwaa:warning"].startswith("On AWS this environment would fail to create")
    delete_and_wait(local, "net-bare")

    # A VPC endpoint in the VPC (as the CloudFormation template makes) removes the warning.
    endpoint = ec2.create_vpc_endpoint(VpcId=bare.vpc_id, ServiceName="com.amazonaws.us-east-1.sqs",
                                       VpcEndpointType="Interface", SubnetIds=bare.subnet_ids)["VpcEndpoint"]["VpcEndpointId"]
    mw.create_environment(**request(local, "net-bare", NetworkConfiguration=bare_net))
    assert "localmwaa:warning" not in mw.get_environment(Name="net-bare")["Environment"]["Tags"]
    delete_and_wait(local, "net-bare")
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])

    # A subnet whose explicitly associated route table sends 0.0.0.0/0 to an internet gateway is public.
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=prereq.network.vpc_id)
    table = ec2.create_route_table(VpcId=prereq.network.vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    assoc = ec2.associate_route_table(RouteTableId=table, SubnetId=net["SubnetIds"][1])["AssociationId"]
    code, text = error_of(lambda: mw.create_environment(**request(local, "net-public")))
    assert code == "ValidationException"
    assert text == f"Subnets must be private; {net['SubnetIds'][1]} routes 0.0.0.0/0 to an internet gateway."
    ec2.disassociate_route_table(AssociationId=assoc)

    # ... and so is one that uses the VPC's main route table when that table routes to the gateway.
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [prereq.network.vpc_id]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    try:
        code, text = error_of(lambda: mw.create_environment(**request(local, "net-public")))
        assert code == "ValidationException" and "routes 0.0.0.0/0 to an internet gateway" in text
        assert net["SubnetIds"][0] in text
    finally:
        ec2.delete_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0")


def test_dag_sync_failure_shows_in_get_environment_and_wait_for_dag(local, monkeypatch):
    from helpers.localcloud.emulators.mwaa.dagsync import DagSync

    shared = local["emulator"].shared
    monkeypatch.setattr(shared, "sync_factory", lambda s3c, bucket, prefix, folder: DagSync(s3c, bucket, prefix, folder, 0.2))
    bucket = "tests-sm-doomed"
    arn = s3.create_environment_bucket(bucket, NB)
    mw = client(local)
    mw.create_environment(**request(local, "sync", SourceBucketArn=arn))
    try:
        wait_status(local, "sync", "AVAILABLE")
        assert "localmwaa:dag-sync-error" not in mw.get_environment(Name="sync")["Environment"]["Tags"]
        s3c = cloud.client("s3")
        versions = s3c.list_object_versions(Bucket=bucket)
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            s3c.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        s3c.delete_bucket(Bucket=bucket)
        wait_until(lambda: "localmwaa:dag-sync-error" in mw.get_environment(Name="sync")["Environment"]["Tags"], 10, "sync error")
        assert "NoSuchBucket" in mw.get_environment(Name="sync")["Environment"]["Tags"]["localmwaa:dag-sync-error"]
        monkeypatch.setattr(mwaa, "client", lambda: mw)
        with pytest.raises(WorkbookError) as err:
            mwaa.AirflowApi("sync").wait_for_dag("anything", timeout=1)
        assert "Timed out" in str(err.value) and "Copying DAGs from S3 fails" in str(err.value) and "NoSuchBucket" in str(err.value)
    finally:
        delete_and_wait(local, "sync")


class ScriptedApi:
    """An AirflowApi stand-in answering task-instance listings from a script of states."""

    def __init__(self, script):
        self.script, self.calls = script, 0

    def call(self, method, path, query=None, body=None):
        states = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return {"task_instances": [{"task_id": t, "state": s} for t, s in states.items()]}


def test_deferral_watch_stops_when_the_run_ends_before_its_data_arrives():
    api = ScriptedApi([{"wait": "running", "load": None}, {"wait": "failed", "load": "upstream_failed"}])
    started = time.monotonic()
    with pytest.raises(WorkbookError, match=r"ended before its data arrived: wait, load ended failed"):
        deferral.watch(api, "d", "r", arrive_after=60, arrive=lambda: None, label="x", timeout=60, interval=0.05,
                       arrive_when=deferral.deferred_for("wait", 5))
    assert time.monotonic() - started < 5


def test_wait_for_run_reports_the_failed_task_not_a_log_stream_timeout(monkeypatch):
    api = mwaa.AirflowApi("env")
    tis = [{"task_id": "extract", "state": "upstream_failed", "start_date": None},
           {"task_id": "sense", "state": "failed", "start_date": None}]
    answers = {"/dags/d/dagRuns/r": {"state": "failed"}, "/dags/d/dagRuns/r/taskInstances": {"task_instances": tis}}
    monkeypatch.setattr(api, "call", lambda method, path, query=None, body=None: answers[path])
    monkeypatch.setattr(mwaa, "describe", lambda name: {"LoggingConfiguration": mwaa.TASK_LOGS_INFO})
    awaited = []
    monkeypatch.setattr(api, "task_log_streams", lambda d, r, expected, timeout=60: awaited.append(expected) or [])
    assert api.wait_for_run("d", "r", timeout=5) == "failed"
    assert awaited == [0]  # no stream is awaited for tasks that never started
    assert api.failure("d", "r", tis) == "DAG run d r failed: task sense is failed, before it started (no task log exists)."

    def no_streams(d, r, expected, timeout=60):
        raise WorkbookError("Timed out after 120 s waiting for 1 task log streams.")

    tis[1]["start_date"] = "2026-01-01T00:00:00Z"
    monkeypatch.setattr(api, "task_log_streams", no_streams)
    with pytest.raises(WorkbookError, match=r"^DAG run d r failed: task sense is failed, after it started\. Its task logs"):
        api.wait_for_run("d", "r", timeout=5)



def test_the_cloudformation_network_validates_without_a_warning(local):
    """Notebook 02's VPC (helpers/aws/cloudformation/cfn-vpc-private.yaml): private route table, VPC endpoints."""
    from helpers.chapters.shared_vpc import scenario as shared_vpc

    outputs = shared_vpc.deploy_network()
    mw = client(local)
    network = {"SubnetIds": outputs["PrivateSubnets"].split(","), "SecurityGroupIds": [outputs["SecurityGroup"]]}
    mw.create_environment(**request(local, "cfn-net", EndpointManagement="CUSTOMER", WebserverAccessMode="PRIVATE_ONLY",
                                    NetworkConfiguration=network, LoggingConfiguration={}))
    try:
        env = mw.get_environment(Name="cfn-net")["Environment"]
        assert env["Status"] in ("CREATING", "PENDING")
        assert "localmwaa:warning" not in env["Tags"]
    finally:
        delete_and_wait(local, "cfn-net")
