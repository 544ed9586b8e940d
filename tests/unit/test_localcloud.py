from __future__ import annotations

import json
import socket
import subprocess
import sys

import boto3
import psutil
import pytest

from helpers import localcloud, procs
from helpers.aws import cloud
from helpers.errors import WorkbookError
from helpers.paths import REPO_ROOT


def test_up_starts_moto_on_loopback_and_boto3_reaches_it(local_cloud):
    assert local_cloud.url.startswith("http://127.0.0.1:")
    conns = [c for c in psutil.Process(local_cloud.pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN]
    assert {c.laddr.ip for c in conns} == {"127.0.0.1"}
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="probe-bucket")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["probe-bucket"]


def test_up_twice_is_a_no_op(local_cloud):
    again = localcloud.up(quiet=True)["aws"]
    assert (again.pid, again.port) == (local_cloud.pid, local_cloud.port)


def test_down_stops_by_pid_and_frees_the_port(local_cloud):
    assert localcloud.down() == ["aws", "snowflake"]
    assert not psutil.pid_exists(local_cloud.pid) or psutil.Process(local_cloud.pid).status() == psutil.STATUS_ZOMBIE
    assert not procs.port_open(local_cloud.port)
    assert localcloud.down() == []


def test_stale_state_is_replaced(local_cloud, capsys):
    procs.stop(local_cloud.pid, local_cloud.create_time)  # dies behind the workbook's back
    new = localcloud.up()["aws"]
    assert new.pid != local_cloud.pid
    assert "from an earlier run is gone (pid" in capsys.readouterr().out


def test_a_port_answering_with_another_token_is_not_ours(local_cloud, fresh_state):
    state_file = fresh_state / "localcloud" / "state.json"
    state = json.loads(state_file.read_text())
    state["services"]["aws"]["token"] = "someone-else"
    state_file.write_text(json.dumps(state))
    assert "aws" not in localcloud.running()
    with pytest.raises(WorkbookError, match="not running"):
        localcloud.require()


@pytest.mark.localcloud  # up() gets as far as starting a service
def test_fixed_port_already_taken_is_one_clear_error(fresh_state, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        monkeypatch.setenv("WORKBOOK_AWS_PORT", str(sock.getsockname()[1]))
        with pytest.raises(WorkbookError, match=r"already taken by another program") as err:
            localcloud.up(quiet=True)
    assert "\n" not in str(err.value)


@pytest.mark.localcloud  # up() gets as far as starting a service
def test_fixed_port_must_be_a_number(fresh_state, monkeypatch):
    monkeypatch.setenv("WORKBOOK_AWS_PORT", "http")
    with pytest.raises(WorkbookError, match="not a port number"):
        localcloud.up(quiet=True)


def test_clients_need_the_local_cloud_running(fresh_state):
    with pytest.raises(WorkbookError, match=r"python -m helpers.localcloud up"):
        cloud.client("s3")


def test_env_exports_work_for_a_plain_boto3_client(local_cloud, monkeypatch):
    env = localcloud.exports()
    assert env["AWS_ENDPOINT_URL"] == local_cloud.url
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    sqs = boto3.client("sqs")  # no endpoint or credentials given in code
    url = sqs.create_queue(QueueName="from-env")["QueueUrl"]
    assert url.endswith("/from-env")


def _cli(*args, env_state):
    return subprocess.run([sys.executable, "-m", "helpers.localcloud", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env={**__import__("os").environ, "WORKBOOK_STATE_DIR": str(env_state)}, timeout=120)


def test_cli_lifecycle_and_one_line_errors(fresh_state):
    missing = _cli("env", env_state=fresh_state)
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "Traceback" not in missing.stderr
    assert "python -m helpers.localcloud up" in missing.stderr
    assert _cli("up", env_state=fresh_state).returncode == 0
    exports = _cli("env", env_state=fresh_state).stdout
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:" in exports
    assert "running" in _cli("status", env_state=fresh_state).stdout
    assert "Stopped: aws" in _cli("down", env_state=fresh_state).stdout
    assert "stopped" in _cli("status", env_state=fresh_state).stdout
