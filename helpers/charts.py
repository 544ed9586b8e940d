"""Charts the notebooks show. Each is saved under build/plots/ and returned for display."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless runs have no display; notebooks show the saved figure inline
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from helpers.paths import plots_dir  # noqa: E402

STATE_COLOURS = {"success": "#2e8b57", "failed": "#c0392b", "upstream_failed": "#e67e22", "skipped": "#95a5a6",
                 "deferred": "#8e44ad", "running": "#2980b9", "up_for_retry": "#f1c40f"}


def gantt(tasks: pd.DataFrame, title: str, name: str) -> Path:
    """A Gantt chart of task instances (columns task, state, start, end), like Airflow's Gantt view."""
    frame = tasks.dropna(subset=["start", "end"]).sort_values("start")
    if frame.empty:
        raise ValueError("no finished task instances to chart")
    origin = frame.start.min()
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(frame)))
    for row_no, row in enumerate(frame.itertuples()):
        left = (row.start - origin).total_seconds()
        width = max((row.end - row.start).total_seconds(), 0.05)
        ax.barh(row_no, width, left=left, color=STATE_COLOURS.get(row.state, "#7f8c8d"))
    ax.set_yticks(range(len(frame)), frame.task)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first task started")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, name)


def show(path: Path) -> None:
    """Display a saved chart inline (a no-op outside IPython)."""
    try:
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover
        return
    display(Image(filename=str(path)))


def _save(fig, name: str) -> Path:
    fig.tight_layout()
    path = plots_dir() / f"{name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def durations(tasks: pd.DataFrame, title: str, name: str) -> Path:
    """Seconds per task (columns task, seconds), as horizontal bars."""
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.4 * len(tasks)))
    ax.barh(tasks.task, tasks.seconds, color=STATE_COLOURS["success"])
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title(title)
    return _save(fig, name)


def cumulative(series: dict[str, pd.DataFrame], x: str, y: str, ylabel: str, title: str, name: str) -> Path:
    """Step lines of a cumulative count, one per labelled frame."""
    fig, ax = plt.subplots(figsize=(6, 3))
    for label, frame in series.items():
        ax.step(frame[x], frame[y], where="post", label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return _save(fig, name)
