"""Notebook lanes: how `make test` executes the notebooks, in parallel local clouds.

    python -m helpers.testkit.lanes run [--lanes N] [--only NAME ...]   # every lane; build/test-notebooks/run.json
    python -m helpers.testkit.lanes compare                            # lanes=1, then the default, timed: build/lanes.json
    python -m helpers.testkit.lanes lane --out DIR NAME ...            # one lane (run starts these)

A lane is a process with its own local cloud (its own state folder, so its own ports and workshop environment).
It executes each of its notebooks in that cloud, twice in a row unless tests/notebook_budgets.toml says `rerun =
false` (the second execution proves a re-run works; the last one is compared with the committed outputs), then
`99_clean_up` once, which proves the lane left nothing.
The notebooks mostly wait on Airflow, but the unit tests run beside the lanes: one lane per two cores. Notebooks are spread over
lanes by their measured times, or budgets where unmeasured (longest first). WORKBOOK_TEST_LANES overrides the lane count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from helpers.paths import BUILD_DIR
from helpers.procs import is_same_process, tree_memory_mb
from helpers.procs import started as started_at
from helpers.testkit import budgets

RUN_DIR = BUILD_DIR / "test-notebooks"
GB = 1024 ** 3
LANE_MEMORY_GB = 4  # one lane peaks at about 3.7 GB (notebook 02, three environments)
UNIT_TESTS_NICE = 5  # the unit tests beside the lanes (conftest.py): a third of a core against a lane that wants it


def selected_notebooks() -> list[str]:
    """The notebooks `make test` executes: all but 99 (which closes each lane), or those of `make test NB=...`."""
    from helpers.tooling.notebooks import workbook_notebooks

    chosen = os.environ.get("WORKBOOK_TEST_NOTEBOOKS", "").replace(",", " ").split()
    return [n for n in workbook_notebooks() if n != budgets.CLEAN_UP and (not chosen or n in chosen)]


def default_lanes(notebooks: int) -> int:
    if os.environ.get("WORKBOOK_TEST_LANES"):
        return max(1, int(os.environ["WORKBOOK_TEST_LANES"]))
    by_memory = int(psutil.virtual_memory().total // (LANE_MEMORY_GB * GB)) - 1  # leave a lane's worth to the rest
    # One lane per core. The unit tests beside them start Airflow environments too, at a lower priority that their
    # servers keep (processes.keep_priority). Before they kept it, two lanes and the unit tests on 2 cores took 26
    # minutes and timed checkpoints failed; with it, a clean clone's pytest session took 15.9 minutes in two lanes
    # (22.6 in one: the notebooks alone add up to more than 20).
    by_cores = max(1, os.cpu_count() or 1)
    return max(1, min(by_cores, by_memory, notebooks))


def measured_seconds(path: Path | None = None) -> dict[str, float]:
    """Each notebook's executions in one lane (those `make test` runs), as `make bench` last measured them
    (measurements/lanes.json)."""
    from helpers.testkit.measured import MEASUREMENTS

    try:
        rows = json.loads((path or MEASUREMENTS / "lanes.json").read_text())["lanes_1"]["notebooks"]
    except (OSError, ValueError, KeyError):
        return {}
    found: dict[str, float] = {}
    for key, seconds in rows.items():
        name, _, execution = key.partition("#")
        if execution.isdigit() and int(execution) in budgets.executions(name):
            found[name] = found.get(name, 0.0) + float(seconds)
    return found


def plan(names: list[str], lanes: int, measured: dict[str, float] | None = None) -> list[list[str]]:
    """Longest first onto the least-loaded lane; each lane then runs its notebooks in workbook order. A notebook's
    length is its measured time (its executions, `make bench`), or its budget per execution when it has not been measured:
    budgets are limits, and far apart from the times (04 takes 140 s of 180, 00 30 s of 90)."""
    limits, measured = budgets.load(), measured_seconds() if measured is None else measured
    cost = {n: measured.get(n) or len(budgets.executions(n)) * (limits[n].seconds if n in limits else 60) for n in names}
    lanes_ = [[] for _ in range(max(1, min(lanes, len(names))))]
    loads = [0.0] * len(lanes_)
    for name in sorted(names, key=lambda n: -cost[n]):
        least = loads.index(min(loads))
        lanes_[least].append(name)
        loads[least] += cost[name]
    return [sorted(members) for members in lanes_]


# --- one lane (its own process and local cloud) ------------------------------------------------------------

def _end_with_parent() -> None:
    """A lane outlives nothing: if the run that started it dies (killed, a CI timeout), the lane stops its kernel and
    its local cloud and exits, instead of running notebooks for nobody."""
    from helpers import localcloud

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        for child in psutil.Process().children(recursive=True):
            child.kill()
        localcloud.down()
        os._exit(3)

    threading.Thread(target=watch, name="lane-watchdog", daemon=True).start()


def run_lane(names: list[str], out: Path, timeout: int = 900) -> list[dict]:
    from helpers import localcloud
    from helpers.tooling.runner import run_notebook

    _end_with_parent()
    rows: list[dict] = []

    def record(name: str, execution: int, path: Path) -> None:
        row = run_notebook(name, timeout=timeout, output=path)
        rows.append({**row, "execution": execution, "output": path.name})
        (out / "lane.json").write_text(json.dumps(rows, indent=2) + "\n")

    try:
        for name in names:
            for execution in budgets.executions(name):
                record(name, execution, out / f"{name}.run{execution}.ipynb")
        record(budgets.CLEAN_UP, 1, out / f"{budgets.CLEAN_UP}.ipynb")
        rows[-1]["local_cloud_left"] = sorted(localcloud.running())
        (out / "lane.json").write_text(json.dumps(rows, indent=2) + "\n")
    finally:
        localcloud.down()
    return rows


# --- every lane ----------------------------------------------------------------------------------------------

def _lane_env(state: Path) -> dict[str, str]:
    return {**os.environ, "WORKBOOK_STATE_DIR": str(state), "WORKBOOK_HEADLESS": "1"}


def _down(state: Path) -> None:
    """Stop a lane's local cloud from outside the lane (its state folder is not this process's)."""
    subprocess.run([sys.executable, "-m", "helpers.localcloud", "down"], env=_lane_env(state), capture_output=True,
                   timeout=120)


def _local_cloud_pids(state: Path) -> list[int]:
    try:
        services = json.loads((state / "localcloud" / "state.json").read_text()).get("services", {})
    except (OSError, ValueError):
        return []
    return [rec["pid"] for rec in services.values() if isinstance(rec, dict) and "pid" in rec]


def _stop_stale(root: Path) -> None:
    """A run killed half-way (Ctrl-C, a CI timeout) leaves lanes and their local clouds: stop them by PID."""
    try:
        previous = json.loads((root / "run.json").read_text())
    except (OSError, ValueError):
        return
    for lane in previous.get("lanes", []):
        if lane.get("pid") and is_same_process(lane["pid"], lane["create_time"]):
            os.killpg(lane["pid"], 9)
        _down(Path(lane["state"]))


def run(lanes: int | None = None, names: list[str] | None = None, root: Path = RUN_DIR, timeout: float = 3600,
        echo=print, stop: threading.Event | None = None) -> dict:
    """Execute the notebooks in lanes; returns (and writes to root/run.json) every execution's row."""
    from helpers.tooling.notebooks import workbook_notebooks

    names = [n for n in (names or workbook_notebooks()) if n != budgets.CLEAN_UP]
    lanes = lanes or default_lanes(len(names))
    _stop_stale(root)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    started = time.monotonic()
    procs = []
    for index, members in enumerate(plan(names, lanes), start=1):
        out = root / f"lane{index}"
        out.mkdir()
        log = open(out / "lane.log", "w")  # noqa: SIM115 - closed when the lane ends
        proc = subprocess.Popen([sys.executable, "-m", "helpers.testkit.lanes", "lane", "--out", str(out), *members],
                                env=_lane_env(out / "state"), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append((proc, log, out, members))
    summary = {"lanes": [{"notebooks": m, "pid": p.pid, "create_time": started_at(p.pid),
                          "state": str(o / "state")} for p, _, o, m in procs]}
    (root / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    echo(f"notebooks: {len(procs)} lane(s): " + "; ".join(", ".join(m) for *_, m in procs))
    peak, reported = 0.0, set()
    try:
        while any(p.poll() is None for p, *_ in procs):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"the notebook lanes took over {timeout:.0f} s")
            if stop is not None and stop.is_set():
                raise InterruptedError("the notebook lanes were stopped")
            pids = [p.pid for p, *_ in procs if p.poll() is None]
            pids += [pid for _, _, out, _ in procs for pid in _local_cloud_pids(out / "state")]
            peak = max(peak, tree_memory_mb(*pids))
            for row in _rows(procs):
                if (key := (row["lane"], row["notebook"], row["execution"])) not in reported:
                    reported.add(key)
                    echo(f"  lane {row['lane']}: {row['notebook']} run {row['execution']}: {row['status']} in {row['seconds']:.0f} s")
            time.sleep(2)
    finally:
        for proc, log, out, _ in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                _down(out / "state")
            proc.wait()
            log.close()
    rows = _rows(procs)
    summary.update(lane_count=len(procs), seconds=round(time.monotonic() - started, 1), peak_memory_mb=round(peak),
                   rows=rows, exit_codes=[p.returncode for p, *_ in procs])
    (root / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


class Background:
    """The lanes run while pytest runs the unit tests: both mostly wait (on Airflow, on servers), so together they
    use two cores better than one after the other. `result()` waits for the lanes; `stop()` ends them."""

    def __init__(self, **kwargs):
        self._stop = threading.Event()
        self._done: dict = {}
        self._thread = threading.Thread(target=self._run, kwargs=kwargs, name="notebook-lanes", daemon=True)
        self._thread.start()

    def _run(self, **kwargs) -> None:
        try:
            self._done["summary"] = run(stop=self._stop, **kwargs)
        except BaseException as exc:  # handed to result(): the thread itself must not die silently
            self._done["error"] = exc

    def result(self) -> dict:
        self._thread.join()
        if "error" in self._done:
            raise self._done["error"]
        return self._done["summary"]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=180)


def _rows(procs) -> list[dict]:
    rows = []
    for index, (_, _, out, _) in enumerate(procs, start=1):
        try:
            rows += [{**row, "lane": index, "path": str(out / row["output"])}
                     for row in json.loads((out / "lane.json").read_text())]
        except (OSError, ValueError):
            pass
    return rows


def _key(row: dict) -> str:
    """notebook#execution; 99 closes every lane, so its key names the lane."""
    return f"{row['notebook']}#{'lane' + str(row['lane']) if row['notebook'] == budgets.CLEAN_UP else row['execution']}"


def compare(names: list[str] | None = None) -> dict:
    """The speed-up, measured honestly: the same commit, one lane then the default lanes, one after the other."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {"commit": commit, "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / GB)}
    from helpers.tooling.notebooks import workbook_notebooks

    names = [n for n in (names or workbook_notebooks()) if n != budgets.CLEAN_UP]
    for lanes in (1, max(2, default_lanes(len(names)))):
        done = run(lanes, names, root=BUILD_DIR / f"lanes-{lanes}")
        result[f"lanes_{lanes}"] = {k: done[k] for k in ("lane_count", "seconds", "peak_memory_mb")} | {
            "ok": all(r["status"] == "ok" for r in done["rows"]),
            "notebooks": {_key(r): r["seconds"] for r in done["rows"]}}
        print(f"lanes={lanes}: {done['seconds']:.0f} s, peak {done['peak_memory_mb']} MB")
    one, two = (result[k]["seconds"] for k in list(result)[-2:])
    result["speedup"] = round(one / two, 2)
    (BUILD_DIR / "lanes.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"speed-up {result['speedup']}x; build/lanes.json")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.testkit.lanes", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["run", "compare", "lane"])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--lanes", type=int)
    args = parser.parse_intermixed_args(argv)
    if args.command == "lane":
        rows = run_lane(args.names, args.out)
        return 0 if all(r["status"] == "ok" for r in rows) else 1
    if args.command == "compare":
        compare(args.names or None)
        return 0
    done = run(args.lanes, args.names or None)
    print(f"{done['seconds']:.0f} s in {done['lane_count']} lane(s), peak {done['peak_memory_mb']} MB; {RUN_DIR}/run.json")
    return 0 if done["rows"] and all(r["status"] == "ok" for r in done["rows"]) and not any(done["exit_codes"]) else 1


if __name__ == "__main__":
    sys.exit(main())
