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
