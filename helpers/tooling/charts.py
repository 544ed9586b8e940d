"""Charts the notebooks show. Each is saved under build/plots/ and returned for display."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless runs have no display; notebooks show the saved figure inline
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from helpers.paths import plots_dir  # noqa: E402

STATE_COLOURS = {"success": "#2e8b57", "failed": "#c0392b", "upstream_failed": "#e67e22", "skipped": "#95a5a6",
                 "deferred": "#8e44ad", "running": "#2980b9", "up_for_retry": "#f1c40f", "queued": "#f39c12",
                 "scheduled": "#d5dbdb", "none": "#ecf0f1"}


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


def _save(fig, name: str, rect: tuple[float, float, float, float] | None = None) -> Path:
    fig.tight_layout(rect=rect)
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


def state_timelines(runs: dict[str, tuple[pd.DataFrame, float]], title: str, name: str) -> Path:
    """One Gantt-style panel per run: each task's states over time (columns task, state, start, end, in seconds
    from the run's trigger), and a dashed line where the awaited data arrived."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 1.2 + 2.2 * len(runs)), sharex=True, squeeze=False)
    seen = set()
    for ax, (label, (spans, arrived)) in zip(axes[:, 0], runs.items(), strict=True):
        tasks = sorted(spans.task.unique())
        for row in spans.itertuples():
            colour = STATE_COLOURS.get(row.state, "#bdc3c7")
            ax.barh(tasks.index(row.task), max(row.end - row.start, 0.05), left=row.start, color=colour,
                    label=row.state if row.state not in seen else None)
            seen.add(row.state)
        ax.axvline(arrived, color="black", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(tasks)), tasks)
        ax.invert_yaxis()
        ax.set_title(label, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("seconds since the run was triggered (dashed: the data arrived)")
    fig.suptitle(title)
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.955), fontsize=8, ncols=6, frameon=False)
    return _save(fig, name, rect=(0, 0, 1, 0.93))


def ranked_bars(frame: pd.DataFrame, panel: str, label: str, value: str, title: str, name: str) -> Path:
    """Horizontal bars, largest first, one panel per value of `panel` (e.g. top start and top end stations)."""
    panels = list(dict.fromkeys(frame[panel]))
    rows = max(int(frame[panel].value_counts().max()), 1)
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 0.6 + 0.35 * rows), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        part = frame[frame[panel] == key].sort_values(value, ascending=False)
        ax.barh(part[label], part[value], color=STATE_COLOURS["success"])
        ax.invert_yaxis()
        ax.set_xlabel(value)
        ax.set_title(str(key))
    fig.suptitle(title)
    return _save(fig, name)
