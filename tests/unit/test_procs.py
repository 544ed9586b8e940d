from __future__ import annotations

import sys

import psutil
import pytest

from helpers import procs
from helpers.errors import WorkbookError


def test_free_port_is_free_and_on_loopback():
    port = procs.free_port()
    assert 1024 < port < 65536
    assert not procs.port_open(port)


def test_stop_kills_the_process_and_its_children(tmp_path):
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    proc = procs.spawn([sys.executable, "-c", script], tmp_path / "log")
    procs.wait_until(lambda: len(proc.children()) == 1, 10, "child started")
    child = proc.children()[0]
    assert procs.stop(proc.pid, proc.create_time(), timeout=5)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert procs.stop(proc.pid, proc.create_time()) is False  # already gone


def test_stop_refuses_a_reused_pid(tmp_path):
    proc = procs.spawn([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "log")
    assert procs.stop(proc.pid, proc.create_time() - 100) is False  # not the process we started
    assert proc.is_running()
    procs.stop(proc.pid, proc.create_time())


def test_wait_until_times_out_with_a_clear_message():
    with pytest.raises(WorkbookError, match="Timed out after 0 s waiting for nothing"):
        procs.wait_until(lambda: False, 0.3, "nothing", interval=0.05)


def test_wait_until_gives_up_early_with_the_reason():
    with pytest.raises(WorkbookError, match="server failed: it exited"):
        procs.wait_until(lambda: False, 30, "server", failed=lambda: "it exited")
