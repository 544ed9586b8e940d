"""Measure the local cloud and local MWAA (`make bench`): start times, DAG pick-up, idle memory and CPU.

Runs in its own state folder and cleans up after itself. Results: build/benchmark.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import psutil

from helpers.paths import BUILD_DIR


def _airflow_family() -> list[psutil.Process]:
    from helpers.aws import cleanup

    procs = cleanup.airflow_processes()
    return procs + [c for p in procs for c in p.children(recursive=True) if c not in procs]


def measure() -> dict:
    from helpers import localcloud
    from helpers.aws import mwaa, s3

    results = {}
    started = time.monotonic()
    localcloud.up(quiet=True)
    results["localcloud_start_s"] = round(time.monotonic() - started, 2)
    prereq = mwaa.create_prerequisites("benchmark", "bench")
    time.sleep(20)  # let the template DB finish in the background, as it does while a learner reads notebook 00
    started = time.monotonic()
    mwaa.create_environment(mwaa.environment_request("bench", prereq, "benchmark"))
    mwaa.wait_for_status("bench", "AVAILABLE", timeout=300)
    results["create_to_available_s"] = round(time.monotonic() - started, 1)
    api = mwaa.AirflowApi("bench")
    started = time.monotonic()
    s3.upload_dag(prereq.bucket, "hello_mwaa.py")
    api.wait_for_dag("hello_mwaa", timeout=60)
    results["dag_upload_to_listed_s"] = round(time.monotonic() - started, 1)
    time.sleep(15)  # settle: first parses and heartbeats done
    family = _airflow_family()
    results["idle_processes"] = len(family)
    results["idle_memory_pss_mb"] = round(sum(p.memory_full_info().pss for p in family) / 1e6)
    before = {p.pid: sum(p.cpu_times()[:2]) for p in family}
    time.sleep(20)
    used = sum(sum(p.cpu_times()[:2]) - before[p.pid] for p in family if p.is_running())
    results["idle_cpu_percent_of_core"] = round(100 * used / 20, 1)
    mwaa.delete_environment("bench")
    return results


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBOOK_STATE_DIR"] = tmp
        os.environ["WORKBOOK_HEADLESS"] = "1"
        from helpers import localcloud

        try:
            results = measure()
        finally:
            localcloud.down()
    BUILD_DIR.mkdir(exist_ok=True)
    (BUILD_DIR / "benchmark.json").write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
