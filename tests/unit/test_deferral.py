"""Worker-slot-seconds and state intervals from sampled task states (pure functions)."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers.chapters.deferrable_operators import deferral


def _samples(rows: list[tuple[float, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["seconds", "task", "state"])


CLASSIC = _samples([(t, task, "running") for t in (0.0, 1.0, 2.0, 3.0) for task in ("a", "b")]
                   + [(4.0, "a", "success"), (4.0, "b", "success")])
DEFERRABLE = _samples([(0.0, "a", "running"), (0.0, "b", "queued"), (1.0, "a", "deferred"), (1.0, "b", "running"),
                       (2.0, "a", "deferred"), (2.0, "b", "deferred"), (3.0, "a", "running"), (3.0, "b", "deferred"),
                       (4.0, "a", "success"), (4.0, "b", "success")])


def test_slot_seconds_count_running_tasks_per_interval():
    assert deferral.slot_seconds(CLASSIC) == 8.0  # two tasks, four seconds
    assert deferral.slot_seconds(DEFERRABLE) == 3.0  # a: 0-1 and 3-4, b: 1-2
    assert deferral.slot_seconds(CLASSIC, until=2.5) == 5.0  # the interval that the cut falls in counts in part
    assert deferral.slot_seconds(DEFERRABLE, until=2.5) == 2.0


def test_intervals_merge_consecutive_samples_of_one_state():
    spans = deferral.intervals(DEFERRABLE)
    a = spans[spans.task == "a"][["state", "start", "end"]].values.tolist()
    assert a == [["running", 0.0, 1.0], ["deferred", 1.0, 3.0], ["running", 3.0, 4.0], ["success", 4.0, 4.0]]


def test_summary_and_the_deferred_for_condition():
    watched = deferral.Watched("deferrable", DEFERRABLE, arrived_at=2.5)
    row = deferral.summary(watched).iloc[0]
    assert (row["slot-s while waiting"], row["slot-s in all"], row["deferred (task-s)"]) == (2.0, 3.0, 4)
    assert not deferral.deferred_for("a", 2.0)(DEFERRABLE[DEFERRABLE.seconds <= 2.0])
    assert deferral.deferred_for("a", 2.0)(DEFERRABLE[DEFERRABLE.seconds <= 3.0])
    assert not deferral.deferred_for("c", 0.0)(DEFERRABLE)


def test_has_looked_waits_for_deferral_or_a_long_run():
    def samples(*rows):
        return pd.DataFrame(rows, columns=["seconds", "task", "state"])

    looked = deferral.has_looked("s", running_seconds=10)
    assert not looked(samples((0, "s", "queued"), (5, "s", "running"), (14, "s", "running")))  # still starting
    assert looked(samples((0, "s", "running"), (3, "s", "deferred")))
    assert looked(samples((0, "s", "running"), (3, "s", "deferred"), (20, "s", "running")))  # resumed
    assert looked(samples((0, "s", "running"), (10, "s", "running")))  # never deferred: a classic sensor
    assert not looked(samples((0, "t", "deferred"), (30, "s", "running")))
    waited = deferral.has_looked("s", deferred_seconds=5)
    assert not waited(samples((0, "s", "running"), (3, "s", "deferred"), (7, "s", "deferred")))
    assert waited(samples((0, "s", "running"), (3, "s", "deferred"), (8, "s", "deferred")))
    watched = deferral.Watched("w", samples((0, "s", "running"), (3, "s", "deferred"), (8, "s", "running"), (9, "s", "success")), 8)
    assert watched.first("s", "deferred") == 3 and watched.first("s", "failed") is None
    assert watched.slot_seconds(since=3) == 1.0 and watched.slot_seconds(until=8, since=3) == 0.0


def test_watch_rejects_nonsense_before_calling_anything():
    from helpers.errors import WorkbookError

    with pytest.raises(WorkbookError, match="must be positive"):
        deferral.watch(None, "d", "r", 0, lambda: None, "x")
