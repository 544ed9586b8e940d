"""The local cloud when things go wrong on a laptop: the gateway killed (kill -9, out of memory), a component ignoring
SIGTERM, a child process finishing, a gateway too busy to answer, an `up` that cannot succeed."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

from helpers import config, localcloud
from helpers.aws import cleanup, mwaa
from helpers.errors import WorkbookError
from helpers.localcloud import processes, services
from helpers.paths import REPO_ROOT

ENV = "faults"


def _cli(*args: str, state) -> subprocess.CompletedProcess:
    env = {**os.environ, "WORKBOOK_STATE_DIR": str(state), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "helpers.localcloud", *args], capture_output=True, text=True, cwd=REPO_ROOT,
                          env=env, timeout=120)


def _ours(state) -> list[psutil.Process]:
    """Every process that mentions this test's state folder on its command line or works in it."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            if str(state) in " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or ""):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def _recorded(state) -> dict[str, tuple[int, float]]:
    records = processes.records(state / "localcloud")
    return {name: p for record in records.values() for name, p in record["processes"].items()}


def _create(prereq) -> None:
    mwaa.create_environment(mwaa.environment_request(ENV, prereq, "tests-faults"))
    mwaa.wait_for_status(ENV, "AVAILABLE", timeout=240)


def test_a_killed_gateway_leaves_nothing_behind_and_the_next_environment_starts_afresh(local_cloud, fresh_state):
    prereq = mwaa.create_prerequisites("tests-faults", ENV)
    _create(prereq)
    home = fresh_state / "localcloud" / "mwaa" / ENV / "us-east-1" / "airflow"  # mwaa/<name>/<region>
    recorded = _recorded(fresh_state)
    assert set(recorded) == {"api-server", "scheduler", "dag-processor", "triggerer"}
    assert all(processes.is_same_process(*p) for p in recorded.values())

    # A component that exits on its own is collected by the gateway, not left as a zombie.
    triggerer = recorded["triggerer"][0]
    assert psutil.Process(triggerer).ppid() == local_cloud.pid
    os.kill(triggerer, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while psutil.pid_exists(triggerer) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not psutil.pid_exists(triggerer), f"the gateway left its finished child {triggerer} a zombie"

    # The gateway is killed; its dag-processor, stopped, cannot act on SIGTERM.
    (home / "left-by-the-first-environment").write_text("x")
    os.kill(local_cloud.pid, signal.SIGKILL)
    os.kill(recorded["dag-processor"][0], signal.SIGSTOP)
    status = _cli("status", state=fresh_state)
    assert status.returncode == 1
    assert f"Local aws service (pid {local_cloud.pid}): its process is gone (killed or crashed): run `python -m " \
           "helpers.localcloud down`, then `python -m helpers.localcloud up`." in status.stdout
    assert f"Airflow processes of environment {ENV} (pids " in status.stdout
    assert "stray" in status.stdout

    started = time.monotonic()
    down = _cli("down", state=fresh_state)
    took = time.monotonic() - started
    assert down.returncode == 0, down.stderr
    assert f"Found: The local aws service (pid {local_cloud.pid}) was already gone: killed or crashed." in down.stdout
    assert "Found: Left running by a killed local cloud: " in down.stdout and f"of environment {ENV}." in down.stdout
    assert "Stopped: snowflake, " in down.stdout and f"stray Airflow processes ({ENV})" in down.stdout
    print(f"down after the crash took {took:.1f} s")
    assert took < 10, f"down took {took:.1f} s"  # a 3 s grace, then SIGKILL (it took 14 s with a 10 s wait per stop)
    assert not [name for name, p in recorded.items() if processes.is_same_process(*p)]
    assert cleanup.airflow_processes() == []
    assert _ours(fresh_state) == []
    assert _cli("status", state=fresh_state).returncode == 0  # all stopped is not a problem

    # A new local cloud, the same environment name: a fresh home, not the old one's files or DB.
    localcloud.up(quiet=True)
    _create(mwaa.create_prerequisites("tests-faults", ENV))  # the new cloud's AWS state is new too
    assert not (home / "left-by-the-first-environment").exists()
    again = _recorded(fresh_state)
    assert set(again) == set(recorded) and not set(again.values()) & set(recorded.values())


def test_stop_is_a_short_grace_then_sigkill_per_process_group(tmp_path):
    # A leader and a child in its process group, both ignoring SIGTERM (the child is not even our child).
    script = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "subprocess.Popen([sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "time.sleep(60)']); time.sleep(60)")
    leader = processes.spawn([sys.executable, "-c", script], tmp_path / "log")
    deadline = time.monotonic() + 10
    while not leader.children() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = leader.children()[0]
    leader_stamp, child_stamp = processes.started(leader), processes.started(child)
    time.sleep(0.3)  # both have set their handlers
    started = time.monotonic()
    assert processes.stop_all([(leader.pid, leader_stamp)], grace=1.0) == 1
    assert time.monotonic() - started < 4
    assert not processes.is_same_process(leader.pid, leader_stamp)
    assert not processes.is_same_process(child.pid, child_stamp)
    assert processes.reap_finished() == [] and leader.pid not in processes._SPAWNED  # collected, no zombie


def test_a_slow_gateway_is_waited_for_not_restarted(local_cloud, monkeypatch, capsys):
    monkeypatch.setattr(services, "_VERIFIED", {})  # forget the answer `up` just got
    os.kill(local_cloud.pid, signal.SIGSTOP)  # as busy as it gets: it answers nothing
    resume = threading.Timer(7, os.kill, (local_cloud.pid, signal.SIGCONT))
    try:
        assert localcloud.status()[0]["state"] == "slow"
        resume.start()
        records = localcloud.up()  # today: stopped after one 5 s health check, with every environment it ran
    finally:
        resume.cancel()
        os.kill(local_cloud.pid, signal.SIGCONT)
    assert records["aws"].pid == local_cloud.pid
    assert f"Local aws service (pid {local_cloud.pid}) is slow to answer; waiting up to" in capsys.readouterr().out


def test_a_client_waits_for_a_slow_gateway_instead_of_saying_it_is_not_running(local_cloud, monkeypatch):
    """Every boto3 client asks `require` for the endpoint; on a loaded machine one slow health answer must not end a
    notebook with "the local cloud is not running" while it runs."""
    monkeypatch.setattr(services, "_VERIFIED", {})
    probe = services.probe_health
    monkeypatch.setattr(services, "probe_health", lambda url, token, context=None: probe(url, token, context, timeout=1.0))
    os.kill(local_cloud.pid, signal.SIGSTOP)
    resume = threading.Timer(2.5, os.kill, (local_cloud.pid, signal.SIGCONT))
    resume.start()
    try:
        assert localcloud.require("aws").pid == local_cloud.pid
    finally:
        resume.cancel()
        os.kill(local_cloud.pid, signal.SIGCONT)


@pytest.mark.parametrize("fault", ["taken snowflake port", "bad region", "invalid workbook.toml"])
def test_a_failed_up_leaves_nothing_running_and_says_what_to_do(fault, fresh_state, monkeypatch, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        if fault == "taken snowflake port":
            monkeypatch.setenv("WORKBOOK_SNOWFLAKE_PORT", str(sock.getsockname()[1]))
            expected = "WORKBOOK_SNOWFLAKE_PORT) is already taken by another program: free it, or unset"
        elif fault == "bad region":
            monkeypatch.setenv("WORKBOOK_REGION", "xx-nowhere-1")
            expected = "Unknown AWS region 'xx-nowhere-1': set WORKBOOK_REGION"
        else:
            (tmp_path / "workbook.toml").write_text("region = \n")
            monkeypatch.setattr(config, "CONFIG_FILE", tmp_path / "workbook.toml")
            expected = "workbook.toml is not valid TOML"
        with pytest.raises(WorkbookError, match=re.escape(expected)) as err:
            localcloud.up(quiet=True)
    assert "\n" not in str(err.value)
    assert localcloud.running() == {}
    assert _ours(fresh_state) == []


@pytest.mark.localcloud  # starts the gateway, then a Snowflake that fails
def test_a_snowflake_that_fails_to_start_stops_the_gateway_this_up_started(fresh_state, monkeypatch):
    monkeypatch.setattr(type(localcloud.SERVICES["snowflake"]), "command",
                        lambda *_: [sys.executable, "-c", "raise SystemExit('no fakesnow here')"])
    with pytest.raises(WorkbookError, match="local snowflake service failed: the process exited"):
        localcloud.up(quiet=True)
    assert localcloud.running() == {}
    assert _ours(fresh_state) == []


def test_the_emulator_side_imports_no_client_module():
    code = ("import sys, helpers.localcloud.gateway, helpers.localcloud.emulators.mwaa, helpers.localcloud.emulators.glue, "
            "helpers.localcloud.emulators.lambda_runner, helpers.localcloud.emulators.moto_fixes; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('helpers'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    loaded = set(done.stdout.split())
    assert "helpers.localcloud.emulators.mwaa.runtime" in loaded, done.stderr
    assert not loaded & {"helpers.procs", "helpers.localcloud.snowflake", "helpers.localcloud.services", "helpers.config",
                         "helpers.aws.cloud"}
