"""`make test` runs the unit tests at a lower priority than the notebook lanes beside them (conftest.py): the lanes are
the critical path. Checked from inside such a session; a session without lanes beside the unit tests has nothing to
check."""

from __future__ import annotations

import os
import threading

import psutil
import pytest

from helpers.testkit.lanes import UNIT_TESTS_NICE


def test_unit_tests_run_below_the_notebook_lanes(pytestconfig):
    if getattr(pytestconfig, "workbook_lanes", None) is None or os.environ.get("WORKBOOK_TEST_NOTEBOOKS"):
        pytest.skip("no notebook lanes run beside the unit tests in this session")
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == UNIT_TESTS_NICE
    lanes = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "helpers.testkit.lanes" in " ".join(process.cmdline()):
                lanes.append((process.pid, process.nice()))
        except psutil.NoSuchProcess:  # ended while listed
            pass
    if not lanes:
        pytest.skip("the lanes have already ended")
    assert {nice for _, nice in lanes} == {0}, lanes


def _spawn_sleep_at(nice: int, tmp_path) -> str:
    """The autogroup line of a server spawned from a thread at `nice`."""
    from helpers.localcloud import processes

    seen: dict[str, str] = {}

    def at_nice() -> None:
        os.nice(nice)  # this thread only (Linux): the test's own thread keeps its priority
        proc = processes.spawn(["sleep", "30"], tmp_path / "sleep.log")
        try:
            seen["autogroup"] = open(f"/proc/{proc.pid}/autogroup").read().strip()
        finally:
            processes.stop_all([(proc.pid, processes.started(proc))], 1)

    thread = threading.Thread(target=at_nice)
    thread.start()
    thread.join()
    return seen["autogroup"]


@pytest.mark.skipif(not os.path.exists("/proc/self/autogroup"), reason="no autogroup scheduling on this kernel")
def test_a_spawned_server_keeps_the_priority_of_the_thread_that_started_it(tmp_path):
    # A new session is a new scheduling group, whose nice value is what counts against the lanes' processes.
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert _spawn_sleep_at(7, tmp_path).endswith(f"nice {base + 7}")
    assert _spawn_sleep_at(0, tmp_path).endswith(f"nice {base}")
