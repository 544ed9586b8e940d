"""What deferral buys, measured: sample a DAG run's task states over time and count worker-slot-seconds.

A task holds a worker slot while it is `running` (on MWAA, one of a Celery worker's slots; locally, one of the
LocalExecutor's). A classic sensor is `running` for the whole wait; a deferrable one runs briefly, is
`deferred` (the triggerer waits for it, asynchronously, in one process for all triggers) and runs briefly again
when its trigger fires. Sampling the states through the Airflow REST API every second is coarse but honest:
it sees what the scheduler sees, on any target.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from helpers.errors import WorkbookError
from helpers.progress import progress

SLOT_STATES = ("running",)
FINISHED = ("success", "failed", "upstream_failed", "skipped", "removed")


@dataclass
class Watched:
    """Samples (columns seconds, task, state) of one run, and when the awaited data arrived (seconds from trigger)."""

    label: str
    samples: pd.DataFrame
    arrived_at: float

    def slot_seconds(self, until: float | None = None, since: float | None = None) -> float:
        """Worker-slot-seconds used from `since` up to `until` seconds after the trigger (all of the run if None)."""
        return slot_seconds(self.samples, until, since)

    def first(self, task: str, state: str) -> float | None:
        """Seconds after the trigger when `task` was first seen in `state` (None if never)."""
        seen = self.samples[(self.samples.task == task) & (self.samples.state == state)].seconds
        return None if seen.empty else float(seen.min())

    def waiting_slot_seconds(self) -> float:
        """Worker-slot-seconds used while the data had not arrived yet."""
        return slot_seconds(self.samples, self.arrived_at)


def deferred_for(task: str, seconds: float) -> Callable[[pd.DataFrame], bool]:
    """A condition on the samples so far: `task` has been deferred for at least `seconds`."""
    def condition(samples: pd.DataFrame) -> bool:
        deferred = samples[(samples.task == task) & (samples.state == "deferred")]
        return not deferred.empty and samples.seconds.max() - deferred.seconds.min() >= seconds

    return condition


def has_looked(task: str, running_seconds: float = 60, deferred_seconds: float = 0) -> Callable[[pd.DataFrame], bool]:
    """A condition on the samples so far: `task` has made its first check, as far as states tell: it has been
    deferred for `deferred_seconds`, or running for `running_seconds` (a sensor that never defers, such as a classic
    one, or a task slow to start on a loaded machine). Data uploaded before a sensor's first check leaves nothing to
    wait for: it succeeds at once, deferrable or not."""
    def condition(samples: pd.DataFrame) -> bool:
        mine = samples[samples.task == task]
        deferred = mine[mine.state == "deferred"]
        if not deferred.empty:
            return samples.seconds.max() - deferred.seconds.min() >= deferred_seconds
        running = mine[mine.state == "running"]
        return not running.empty and samples.seconds.max() - running.seconds.min() >= running_seconds

    return condition


def watch(api, dag_id: str, run_id: str, arrive_after: float, arrive: Callable[[], object], label: str,
          timeout: float = 300, interval: float = 1.0, arrive_when: Callable[[pd.DataFrame], bool] | None = None) -> Watched:
    """Sample the run's task states every `interval` s; call `arrive()` (upload the data) once `arrive_after` s have
    passed since the start and `arrive_when(samples so far)` holds; return when every task has finished."""
    if arrive_after <= 0 or interval <= 0:
        raise WorkbookError(f"arrive_after ({arrive_after}) and interval ({interval}) must be positive numbers of seconds.")
    rows, arrived_at, started = [], None, time.monotonic()
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
    with progress(f"watching {dag_id}", total=int(timeout), unit="s") as bar:
        while True:
            now = time.monotonic() - started
            states = [(ti["task_id"], ti["state"] or "none") for ti in api.call("GET", path)["task_instances"]]
            rows += [{"seconds": round(now, 2), "task": task, "state": state} for task, state in states]
            ready = arrive_when is None or arrive_when(pd.DataFrame(rows, columns=["seconds", "task", "state"]))
            if arrived_at is None and now >= arrive_after and ready:
                arrive()
                arrived_at = round(time.monotonic() - started, 2)
            if states and all(state in FINISHED for _, state in states):
                if arrived_at is None:  # every task ended before the data was due, e.g. a sensor failed before deferring
                    failed = [task for task, state in states if state not in ("success", "skipped")]
                    raise WorkbookError(f"{dag_id} run {run_id} ended before its data arrived"
                                        + (f": {', '.join(failed)} ended {dict(states)[failed[0]]}" if failed else "")
                                        + "; see its task logs.")
                break
            if now > timeout:
                raise WorkbookError(f"{dag_id} run {run_id} did not finish within {timeout:.0f} s; see its task logs.")
            bar.n = int(now)
            bar.refresh()
            time.sleep(max(0.0, interval - (time.monotonic() - started - now)))
    return Watched(label, pd.DataFrame(rows, columns=["seconds", "task", "state"]), arrived_at)


def slot_seconds(samples: pd.DataFrame, until: float | None = None, since: float | None = None) -> float:
    """Sum over sampling intervals of (tasks holding a slot at the interval's start) x (interval length)."""
    times = sorted(samples.seconds.unique())
    total = 0.0
    for start, end in zip(times, times[1:], strict=False):
        if since is not None and start < since:
            continue
        if until is not None:
            end = min(end, until)
            if end <= start:
                break
        at = samples[samples.seconds == start]
        total += (end - start) * int(at.state.isin(SLOT_STATES).sum())
    return round(total, 1)


def intervals(samples: pd.DataFrame) -> pd.DataFrame:
    """The samples as state intervals per task (columns task, state, start, end), for a timeline chart."""
    rows = []
    times = sorted(samples.seconds.unique())
    following = dict(zip(times, times[1:] + [times[-1]], strict=False))
    for task, frame in samples.sort_values("seconds").groupby("task", sort=True):
        current = None
        for row in frame.itertuples():
            end = following[row.seconds]
            if current and current["state"] == row.state:
                current["end"] = end
            else:
                current = {"task": task, "state": row.state, "start": row.seconds, "end": end}
                rows.append(current)
    return pd.DataFrame(rows, columns=["task", "state", "start", "end"])


def summary(*watched: Watched) -> pd.DataFrame:
    """Per run: worker-slot-seconds while waiting and in all, and seconds spent in each state (summed over tasks)."""
    rows = []
    for w in watched:
        spans = intervals(w.samples)
        spans["seconds"] = spans.end - spans.start
        per_state = spans.groupby("state").seconds.sum()
        rows.append({"run": w.label, "data arrived (s)": round(w.arrived_at), "slot-s while waiting": w.waiting_slot_seconds(),
                     "slot-s in all": w.slot_seconds(), "running (task-s)": round(per_state.get("running", 0.0)),
                     "deferred (task-s)": round(per_state.get("deferred", 0.0))})
    return pd.DataFrame(rows)
