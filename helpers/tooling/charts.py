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


def environment_architecture(env: dict, vpc: dict, subnets: list[dict], endpoints: list[dict], name: str) -> Path:
    """An MWAA environment and what it runs in and talks to, drawn from the describe calls' answers: GetEnvironment
    (`env`), EC2 DescribeVpcs (`vpc`), DescribeSubnets (`subnets`) and DescribeVpcEndpoints (`endpoints`)."""
    from matplotlib.patches import FancyBboxPatch

    def box(ax, x, y, w, h, text, face, edge="#34495e", size=8, weight="normal", dashed=False, va="center"):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08", facecolor=face,
                                    edgecolor=edge, linewidth=1.2, linestyle="--" if dashed else "-"))
        ty = y + h / 2 if va == "center" else y + h - 0.12
        ax.text(x + w / 2, ty, text, ha="center", va=va, fontsize=size, fontweight=weight)

    def arrow(ax, start, end, text=""):
        ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "color": "#566573", "lw": 1.1})
        if text:
            ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.08, text, ha="center", fontsize=6.5, color="#566573")

    region_prefix = f"com.amazonaws.{env['Arn'].split(':')[3]}."
    kinds = {e["ServiceName"].removeprefix(region_prefix): e["VpcEndpointType"] for e in endpoints}
    interface = sorted(s for s, kind in kinds.items() if kind == "Interface" and not s.startswith("vpce-svc"))
    gateway = sorted(s for s, kind in kinds.items() if kind == "Gateway")
    bucket = env["SourceBucketArn"].split(":::", 1)[1]
    task_logs = env.get("LoggingConfiguration", {}).get("TaskLogs", {})
    log_group = task_logs.get("CloudWatchLogGroupArn", "").split(":log-group:")[-1] if task_logs.get("Enabled") else "(task logs off)"

    fig, ax = plt.subplots(figsize=(11, 6.2))
    # the VPC, its two private subnets and the environment's network interfaces in them
    box(ax, 0.1, 0.1, 6.6, 5.6, f"your VPC {vpc['CidrBlock']}: two private subnets", "#f8f9f9",
        va="top", size=9, weight="bold")
    for i, subnet in enumerate(sorted(subnets, key=lambda s: s["AvailabilityZone"])):
        x = 0.35 + i * 3.2
        box(ax, x, 2.45, 2.9, 2.75, f"private subnet {subnet['CidrBlock']}\n{subnet['AvailabilityZone']}", "#eaf2f8", va="top")
        box(ax, x + 0.2, 2.65, 2.5, 1.55, "MWAA's network interfaces\nscheduler, workers, DAG processor,\ntriggerer "
            "(security group:\nmembers reach each other)", "#d6eaf8", size=7)
        arrow(ax, (x + 1.45, 2.62), (x + 1.45, 2.2))
    box(ax, 0.35, 0.3, 6.1, 1.85, "", "#fef9e7", va="top")
    ax.text(3.4, 2.0, "VPC endpoints: how private subnets reach AWS services", ha="center", va="top", fontsize=8, fontweight="bold")
    chips = [(s, "Gateway") for s in gateway] + [(s, "Interface") for s in interface]
    for n, (service, kind) in enumerate(chips):
        col, row = n % 5, n // 5
        box(ax, 0.5 + col * 1.18, 1.1 - row * 0.6, 1.05, 0.42, service + (" (gateway)" if kind == "Gateway" else ""),
            "#fcf3cf" if kind == "Interface" else "#f9e79f", size=6.5)
    if not chips:
        ax.text(3.4, 1.0, "none: the environment cannot reach S3, SQS or CloudWatch", ha="center", fontsize=8, color="#c0392b")
    # what the environment reaches through those endpoints
    services = [
        (4.75, "Amazon S3", f"{bucket}\nDAGs under {env['DagS3Path'].strip('/')}/", "#d5f5e3"),
        (3.65, "CloudWatch Logs", log_group, "#d5f5e3"),
        (2.55, "Amazon SQS (MWAA's account)", "airflow-celery-* queue", "#e8daef"),
        (1.45, "Amazon MWAA (service)", f"{env['Name']}: Airflow {env['AirflowVersion']}, {env['EnvironmentClass']}\n"
               f"metadata DB, web server ({env['WebserverAccessMode']})", "#e8daef"),
        (0.35, "IAM execution role", env["ExecutionRoleArn"].rsplit("/", 1)[-1] + "\n(what the environment may do)", "#fdebd0"),
    ]
    for y, title, detail, colour in services:
        box(ax, 7.5, y, 3.35, 0.9, f"{title}\n{detail}", colour, size=7, dashed=title.startswith("IAM"))
        if not title.startswith("IAM"):  # the role is not reached: the environment's calls are made as the role
            arrow(ax, (6.75, 1.25), (7.45, y + 0.45))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 5.9)
    ax.axis("off")
    ax.set_title(f"MWAA environment {env['Name']} and what it uses", fontsize=11)
    return _save(fig, name)


def box_diagram(boxes: dict, arrows: list, size: tuple[float, float], limits: tuple[float, float], title: str,
                name: str, height: float = 1.0, line_width: float = 1.3, anchors: dict | None = None,
                note: str | None = None) -> Path:
    """An architecture or trust figure: rounded boxes (`boxes`: key -> (label, x, y, width, colour)) joined by arrows
    (`arrows`: (from, to, label, colour, dashed)) leaving and entering each box on the side facing the other.
    `anchors` moves the ends of chosen arrows ((from, to) -> (start, end), a point or None for the default), to
    route one past a box. Saved under build/plots/."""
    from matplotlib.patches import FancyBboxPatch

    def side(box: str, toward: tuple[float, float]) -> tuple[float, float]:
        _, x, y, w, _ = boxes[box]
        cx, cy = x + w / 2, y + height / 2
        if abs(toward[0] - cx) >= w / 2:
            return (x + w if toward[0] > cx else x, cy)
        return (cx, y + height if toward[1] > cy else y)

    fig, ax = plt.subplots(figsize=size)
    ax.set_xlim(0, limits[0])
    ax.set_ylim(0, limits[1])
    ax.axis("off")
    centres = {}
    for key, (label, x, y, w, colour) in boxes.items():
        ax.add_patch(FancyBboxPatch((x, y), w, height, boxstyle="round,pad=0.03,rounding_size=0.1", facecolor=colour,
                                    edgecolor="#34495e", linewidth=1))
        ax.text(x + w / 2, y + height / 2, label, ha="center", va="center", fontsize=7.5)
        centres[key] = (x + w / 2, y + height / 2)
    for start, end, label, colour, dashed in arrows:
        moved_start, moved_end = (anchors or {}).get((start, end), (None, None))
        a, b = moved_start or side(start, centres[end]), moved_end or side(end, centres[start])
        ax.annotate("", xy=b, xytext=a, arrowprops={"arrowstyle": "-|>", "color": colour, "lw": line_width,
                                                   "linestyle": "--" if dashed else "-"})
        if label:
            ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.08, label, ha="center", va="bottom", fontsize=6.5,
                    color=colour, style="italic")
    if note:
        ax.text(0.2, 0.15, note, fontsize=7.5, va="bottom", color="#34495e")
    ax.set_title(title, fontsize=11)
    return _save(fig, name)
