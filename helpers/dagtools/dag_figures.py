"""What a DAG looks like, for the notebooks: its source with the lines that carry the lesson marked, and its graph.

    python -m helpers.dagtools.dag_figures FILE...  # the DAGs of each FILE as JSON (run in a subprocess: Airflow stays out of the kernel)

The graph is drawn from the DAG Airflow itself parsed (tasks, dependencies, setup and teardown flags), in layers
from left to right as Airflow's Graph view does; setup tasks, teardown tasks and the dotted setup→teardown pairing
are drawn differently, so a figure shows what `@setup`/`@teardown` and `.as_teardown()` declared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.errors import WorkbookError
from helpers.paths import DAGS_DIR, REPO_ROOT, shown

SETUP_COLOUR, TEARDOWN_COLOUR, TASK_COLOUR = "#d5f5e3", "#fdebd0", "#ebf5fb"


# --- source -------------------------------------------------------------------------------------------------

def marked_lines(text: str, marks: list[str]) -> list[int]:
    """1-based numbers of the lines that contain any of `marks`."""
    return [no for no, line in enumerate(text.splitlines(), start=1) if any(m in line for m in marks)]


class Source:
    """A file shown in a notebook: highlighted HTML in JupyterLab, numbered text with `>` on marked lines elsewhere."""

    def __init__(self, path: Path, marks: list[str] | None = None, lines: tuple[int, int] | None = None):
        self.path = path
        self.text = path.read_text()
        self.marks = marks or []
        self.range = lines or (1, len(self.text.splitlines()))

    @property
    def marked(self) -> list[int]:
        return marked_lines(self.text, self.marks)

    def __repr__(self) -> str:
        first, last = self.range
        rows = [f"{'>' if no in self.marked else ' '} {no:3} {line}"
                for no, line in enumerate(self.text.splitlines(), start=1) if first <= no <= last]
        return f"# {shown(self.path)}\n" + "\n".join(rows)

    def _repr_html_(self) -> str:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_for_filename

        first, last = self.range
        body = "\n".join(self.text.splitlines()[first - 1:last])
        formatter = HtmlFormatter(linenos="inline", linenostart=first, hl_lines=[n - first + 1 for n in self.marked
                                                                              if first <= n <= last],
                                  noclasses=True, style="friendly")
        return f"<p><code>{shown(self.path)}</code></p>" + highlight(body, get_lexer_for_filename(self.path.name), formatter)


def source(file: str | Path, marks: list[str] | None = None, lines: tuple[int, int] | None = None) -> Source:
    """A DAG (or SQL, or script) file to display, e.g. `source("legislators_glue_pipeline.py", ["deferrable=True"])`.
    Relative names are looked up in dags/, then in the repository."""
    path = Path(file)
    if not path.is_absolute():
        path = DAGS_DIR / path if (DAGS_DIR / path).exists() else REPO_ROOT / path
    if not path.exists():
        raise WorkbookError(f"No file {file} in dags/ or the repository.")
    found = Source(path, marks, lines)
    missing = [m for m in found.marks if m not in found.text]
    if missing:
        raise WorkbookError(f"{shown(path)} has no line with {missing[0]!r}: mark a text the file contains.")
    return found


# --- graph --------------------------------------------------------------------------------------------------

def structure(dag_file: str) -> dict[str, dict]:
    """dag_id -> {"tasks": {task_id: {"downstream": [...], "setup": bool, "teardown": bool, "setups": [...]}}}."""
    return structures(dag_file)[0]


def structures(*dag_files: str | Path) -> list[dict[str, dict]]:
    """`structure()` of several files, parsed in one subprocess: importing Airflow is most of a parse's cost."""
    from helpers.dagtools.airflow_local import airflow_home

    # parsing needs no cloud and no metadata DB: only Airflow's home and the DAGs folder
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home()), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PYTHONPATH": str(REPO_ROOT)}
    paths = [str(DAGS_DIR / dag_file) for dag_file in dag_files]
    done = subprocess.run([sys.executable, "-m", "helpers.dagtools.dag_figures", *paths], capture_output=True,
                          text=True, env=env, timeout=300)
    if done.returncode != 0:
        names = ", ".join(shown(path) for path in paths)
        raise WorkbookError(f"Airflow could not parse {names}: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    return [parsed[path] for path in paths]


def layers(tasks: dict[str, dict]) -> dict[str, int]:
    """Each task's column: the length of the longest path from a root to it (as Airflow's Graph view lays them out)."""
    upstream = {t: [u for u, spec in tasks.items() if t in spec["downstream"]] for t in tasks}
    depth: dict[str, int] = {}

    def visit(task: str) -> int:
        if task not in depth:
            depth[task] = 1 + max((visit(u) for u in upstream[task]), default=-1)
        return depth[task]

    for task in tasks:
        visit(task)
    return depth


def ordered_columns(tasks: dict[str, dict], sweeps: int = 4) -> dict[int, list[str]]:
    """Tasks per column, each column ordered by the mean row of its neighbours (the barycenter heuristic), so few
    edges cross."""
    depth = layers(tasks)
    columns: dict[int, list[str]] = {}
    for task in sorted(tasks, key=lambda t: (depth[t], t)):
        columns.setdefault(depth[task], []).append(task)
    upstream = {t: [u for u, spec in tasks.items() if t in spec["downstream"]] for t in tasks}
    for sweep in range(sweeps):
        row = {t: i for members in columns.values() for i, t in enumerate(members)}
        order = sorted(columns) if sweep % 2 == 0 else sorted(columns, reverse=True)
        for col in order:
            neighbours = upstream if sweep % 2 == 0 else {t: tasks[t]["downstream"] for t in tasks}
            columns[col].sort(key=lambda t: (sum(row[n] for n in neighbours[t]) / len(neighbours[t]))
                              if neighbours[t] else row[t])
            row.update({t: i for i, t in enumerate(columns[col])})
    return columns


def draw(dag: dict, title: str, name: str) -> Path:
    """The DAG's graph as a figure under build/plots/ (setup green, teardown orange, setup→teardown dotted)."""
    from matplotlib.patches import FancyBboxPatch

    from helpers.tooling.charts import _save, plt

    tasks = dag["tasks"]
    columns = ordered_columns(tasks)
    at = {t: (col * 3.0, -row * 1.0) for col, members in columns.items() for row, t in enumerate(members)}
    tallest = max(len(m) for m in columns.values())
    below_boxes = -(tallest - 1) - 0.45  # pair lines run under every box, the farther apart the pair the deeper
    pairs = [pair_curve(at[setup], at[task], below_boxes - 0.15 * abs(at[task][0] - at[setup][0]) / 3.0)
             for task, spec in tasks.items() for setup in spec.get("setups", [])]
    bottom = min([-tallest - 0.5] + [min(y for _, y in curve) - 0.2 for curve in pairs])
    fig, ax = plt.subplots(figsize=(2.2 + 2.3 * len(columns), 0.75 * (1.4 - bottom)))
    for task, spec in tasks.items():
        for down in spec["downstream"]:
            if task in tasks[down].get("setups", []):
                continue  # a setup->teardown edge is the pairing, drawn dotted below (as Airflow's Graph view does)
            (x1, y1), (x2, y2) = at[task], at[down]
            skips = x2 - x1 > 3.0  # an edge over a column would cross its boxes: bend it over them
            ax.annotate("", xy=(x2 - 1.1, y2), xytext=(x1 + 1.1, y1),
                        arrowprops={"arrowstyle": "->", "color": "#566573", "lw": 1.2,
                                    "connectionstyle": f"arc3,rad={-0.25 if skips else 0}"})
    for curve in pairs:
        ax.plot(*zip(*curve, strict=True), color="#a04000", lw=1.2, linestyle=":")
    for task, (x, y) in at.items():
        spec = tasks[task]
        colour = SETUP_COLOUR if spec["setup"] else TEARDOWN_COLOUR if spec["teardown"] else TASK_COLOUR
        ax.add_patch(FancyBboxPatch((x - 1.1, y - 0.28), 2.2, 0.56, boxstyle="round,pad=0.02", facecolor=colour,
                                    edgecolor="#34495e", linewidth=1.6 if spec["setup"] or spec["teardown"] else 1))
        label = task + (" ↑" if spec["setup"] else " ↓" if spec["teardown"] else "")
        ax.text(x, y, label, ha="center", va="center", fontsize=8)
    ax.set_xlim(-1.4, 3.0 * max(columns) + 1.4)
    ax.set_ylim(bottom, 1.4)
    ax.axis("off")
    ax.set_title(title + ("\n↑ setup   ↓ teardown   ··· setup→teardown pair" if any(
        s["setup"] or s["teardown"] for s in tasks.values()) else ""), fontsize=10)
    return _save(fig, name)


def pair_curve(setup: tuple[float, float], teardown: tuple[float, float], lowest: float,
               points: int = 30) -> list[tuple[float, float]]:
    """The dotted setup→teardown line, in data units (so the figure can make room for it): from under one box to
    under the other, down to `lowest` midway."""
    (x1, y1), (x2, y2) = (setup[0], setup[1] - 0.3), (teardown[0], teardown[1] - 0.3)
    control = ((x1 + x2) / 2, 2 * lowest - (y1 + y2) / 2)  # a quadratic curve's middle is halfway to its control
    return [((1 - t) ** 2 * x1 + 2 * (1 - t) * t * control[0] + t ** 2 * x2,
             (1 - t) ** 2 * y1 + 2 * (1 - t) * t * control[1] + t ** 2 * y2)
            for t in (n / (points - 1) for n in range(points))]


def graph(dag_file: str, dag_id: str | None = None, name: str | None = None) -> Path:
    """Parse dags/`dag_file` with Airflow and draw one of its DAGs; returns the saved figure's path."""
    dags = structure(dag_file)
    dag_id = dag_id or next(iter(dags))
    if dag_id not in dags:
        raise WorkbookError(f"dags/{dag_file} defines {sorted(dags)}, not {dag_id}.")
    return draw(dags[dag_id], f"DAG {dag_id}", name or f"graph_{dag_id}")


def graphs(*dag_files: str) -> list[Path]:
    """`graph()` of the first DAG of each file, all parsed in one subprocess."""
    figures = []
    for dags in structures(*dag_files):
        dag_id = next(iter(dags))
        figures.append(draw(dags[dag_id], f"DAG {dag_id}", f"graph_{dag_id}"))
    return figures


def environment_graph(api, dag_id: str, name: str | None = None) -> Path:
    """The graph of a DAG as a deployed environment parsed it, from its REST API's task list (`GET /dags/{id}/tasks`):
    no local parse, so no Airflow import. The API marks no setup task: draw DAGs with setup/teardown with `graph()`."""
    tasks = api.call("GET", f"/dags/{dag_id}/tasks")["tasks"]
    if any(t.get("trigger_rule") == "all_done_setup_success" for t in tasks):
        raise WorkbookError(f"{dag_id} has teardown tasks, which the REST API cannot pair with their setups: use graph().")
    return draw(from_rest_api(tasks), f"DAG {dag_id}", name or f"graph_{dag_id}")


def from_rest_api(tasks: list[dict]) -> dict:
    """The structure `draw` takes, from the Airflow REST API's `GET /dags/{dag_id}/tasks` (what the environment parsed)."""
    return {"tasks": {t["task_id"]: {"downstream": sorted(t.get("downstream_task_ids") or []), "setup": bool(t.get("is_setup")),
                                     "teardown": bool(t.get("is_teardown")), "setups": []} for t in tasks}}


def task_graph(dag) -> dict:
    """The structure `draw` takes, from a DAG object Airflow parsed."""
    tasks = {}
    for task in dag.tasks:
        teardown = bool(getattr(task, "is_teardown", False))
        setups = sorted(u.task_id for u in task.upstream_list if getattr(u, "is_setup", False)) if teardown else []
        tasks[task.task_id] = {"downstream": sorted(task.downstream_task_ids), "setup": bool(getattr(task, "is_setup", False)),
                               "teardown": teardown, "setups": setups}
    return {"tasks": tasks}


def _parse(path: str) -> dict[str, dict]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=path)
    if bag.import_errors:
        raise SystemExit(next(iter(bag.import_errors.values())).strip().splitlines()[-1])
    return {dag_id: task_graph(dag) for dag_id, dag in bag.dags.items()}


if __name__ == "__main__":
    print(json.dumps({path: _parse(path) for path in sys.argv[1:]}))
