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
    child, stamp = proc.children()[0], procs.started(proc)
    assert procs.stop(proc.pid, stamp, timeout=5)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert procs.stop(proc.pid, stamp) is False  # already gone


def test_stop_refuses_a_reused_pid(tmp_path):
    proc = procs.spawn([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "log")
    assert procs.stop(proc.pid, procs.started(proc) - 100) is False  # not the process we started
    assert proc.is_running()
    procs.stop(proc.pid, procs.started(proc))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the boot time moves with the wall clock on Linux")
def test_a_process_stays_itself_when_the_wall_clock_moves(tmp_path, monkeypatch):
    """psutil's create_time() is the boot time plus the start since boot, and the kernel's boot time is the wall clock
    minus the uptime, in whole seconds: NTP slewing a virtual machine's clock moves it by one. A live process (the
    local cloud's gateway) must not then look gone, which stopped or restarted it mid-notebook."""
    proc = procs.spawn([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "log")
    stamp, created = procs.started(proc), psutil.Process(proc.pid).create_time()
    boot = psutil._pslinux.boot_time()
    monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: boot + 1.0)
    assert psutil.Process(proc.pid).create_time() == pytest.approx(created + 1.0)  # what used to name the process
    assert procs.is_same_process(proc.pid, stamp)
    assert procs.stop(proc.pid, stamp, timeout=5)


def test_wait_until_times_out_with_a_clear_message():
    with pytest.raises(WorkbookError, match="Timed out after 0 s waiting for nothing"):
        procs.wait_until(lambda: False, 0.3, "nothing", interval=0.05)


def test_wait_until_gives_up_early_with_the_reason():
    with pytest.raises(WorkbookError, match="server failed: it exited"):
        procs.wait_until(lambda: False, 30, "server", failed=lambda: "it exited")
