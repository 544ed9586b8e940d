"""Notebook lanes end with the run that started them: a killed `make test` leaves no lane, kernel or local cloud."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil
import pytest

from helpers.paths import REPO_ROOT


@pytest.mark.localcloud
@pytest.mark.timeout(180)
def test_a_lane_whose_run_is_killed_stops_its_kernel_and_local_cloud(tmp_path):
    root = tmp_path / "lanes"
    run = subprocess.Popen([sys.executable, "-c", "import sys; from pathlib import Path; from helpers.testkit import lanes; "
                            "lanes.run(1, ['00_getting_started'], root=Path(sys.argv[1]))", str(root)], cwd=REPO_ROOT)
    deadline = time.monotonic() + 90
    while not list(root.glob("lane1/state/localcloud/state.json")) and time.monotonic() < deadline:
        time.sleep(1)  # the lane's notebook has started its local cloud
    lane = json.loads((root / "run.json").read_text())["lanes"][0]
    assert psutil.pid_exists(lane["pid"])
    run.kill()
    run.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _left(root):
        time.sleep(1)
    assert _left(root) == []


def _left(root) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if str(root) in cmd and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(cmd[:120])
    return found
