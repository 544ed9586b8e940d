"""The lineage graph of a set of runs: jobs and datasets, and columns.

Datasets and jobs form one graph: an edge dataset -> job for each input of a job's runs, job -> dataset for each
output. Edges are a set: a job that ran twice (the notebook run again, a retry) adds runs, not edges. The column graph
comes from the columnLineage facets of the outputs: an edge source column -> output column per inputField, with the
transformations the producer named (the Airflow provider's SQL parser names none: its facets carry empty ones).

Queries name a dataset as its OpenLineage name (`warehouse.dm.fact_sales`; `namespace/name` when the name is in two
namespaces) and a column as `dataset.column` or `(dataset, column)`: the local warehouse's port, part of the namespace
`postgres://127.0.0.1:<port>`, changes from run to run, the names do not.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

import pandas as pd

from helpers.chapters.lineage.events import Run, fold
from helpers.errors import WorkbookError

Node = tuple[str, str, str]  # ("dataset" or "job", namespace, name)
Column = tuple[str, str, str]  # (namespace, dataset name, column)

JOB_COLOUR, DATASET_COLOUR = "#ebf5fb", "#fef5e7"
JOB_EDGE, DATASET_EDGE = "#2e86c1", "#b9770e"


class LineageGraph:
    """Jobs, datasets and columns of `runs` (from `events.fold`). Runs of the provider's QUERY jobs (one per SQL
    statement a hook ran, `dag.task.query.N`, when hook lineage is on) are left out by default: they repeat their
    task's datasets under another job name."""

    def __init__(self, runs: list[Run], skip_job_types: Iterable[str] = ("QUERY",)):
        self.runs = runs
        self.skipped = set(skip_job_types)
        self._edges: dict[tuple[Node, Node], None] = {}  # a dict: ordered like the events, no duplicates
        self._columns: dict[tuple[Column, Column], dict[str, set[str]]] = {}
        self._facets: dict[tuple[str, str], dict] = {}
        for run in runs:
            if run.job_type in self.skipped:
                continue
            job: Node = ("job", run.job_namespace, run.job)
            for dataset in run.inputs.values():
                self._edges[(("dataset", dataset.namespace, dataset.name), job)] = None
                self._facets.setdefault((dataset.namespace, dataset.name), {}).update(dataset.facets)
            for dataset in run.outputs.values():
                self._edges[(job, ("dataset", dataset.namespace, dataset.name))] = None
                self._facets.setdefault((dataset.namespace, dataset.name), {}).update(dataset.facets)
                self._add_columns(run.job, dataset.namespace, dataset.name, dataset.facets.get("columnLineage"))
        self._out: dict[Node, list[Node]] = {}
        self._in: dict[Node, list[Node]] = {}
        for source, target in self._edges:
            self._out.setdefault(source, []).append(target)
            self._in.setdefault(target, []).append(source)
        self._column_out: dict[Column, list[Column]] = {}
        self._column_in: dict[Column, list[Column]] = {}
        for source, target in self._columns:
            self._column_out.setdefault(source, []).append(target)
            self._column_in.setdefault(target, []).append(source)

    def _add_columns(self, job: str, namespace: str, name: str, facet: dict | None) -> None:
        for column, spec in ((facet or {}).get("fields") or {}).items():
            for source in spec["inputFields"]:
                if not source["name"] or not source["field"]:
                    continue  # the provider writes an empty name when the parser found no table for a column
                edge = self._columns.setdefault(((source["namespace"], source["name"], source["field"]), (namespace, name, column)),
                                                {"transformations": set(), "jobs": set()})
                edge["transformations"] |= _transformations(source, spec)
                edge["jobs"].add(job)

    # --- what the graph holds ---------------------------------------------------------------------------------

    @property
    def nodes(self) -> list[Node]:
        return list(dict.fromkeys(node for edge in self._edges for node in edge))

    def counts(self) -> dict[str, int]:
        """events and runs read; datasets and jobs in the graph (jobs that read or wrote a dataset); its edges and
        column edges."""
        nodes = self.nodes
        return {"events": sum(run.events for run in self.runs), "runs": len(self.runs),
                "datasets": sum(kind == "dataset" for kind, _, _ in nodes), "jobs": sum(kind == "job" for kind, _, _ in nodes),
                "edges": len(self._edges), "column_edges": len(self._columns)}

    def edges(self) -> pd.DataFrame:
        """One row per edge: source, target (names), kind (`input`: dataset -> job; `output`: job -> dataset), the
        namespaces."""
        rows = [{"source": source[2], "target": target[2], "kind": "input" if source[0] == "dataset" else "output",
                 "source_namespace": source[1], "target_namespace": target[1]} for source, target in self._edges]
        return pd.DataFrame(rows, columns=["source", "target", "kind", "source_namespace", "target_namespace"])

    def column_edges(self) -> pd.DataFrame:
        """One row per column edge: source and target dataset and column, the transformations (`TYPE/SUBTYPE`, comma
        separated; empty when the producer named none) and the jobs that wrote the target."""
        rows = [{"source_dataset": source[1], "source_column": source[2], "target_dataset": target[1],
                 "target_column": target[2], "transformation": ", ".join(sorted(edge["transformations"])),
                 "job": ", ".join(sorted(edge["jobs"]))} for (source, target), edge in self._columns.items()]
        return pd.DataFrame(rows, columns=["source_dataset", "source_column", "target_dataset", "target_column",
                                           "transformation", "job"])

    def datasets(self) -> pd.DataFrame:
        """One row per dataset: name, namespace, its columns (schema facet, else those its column lineage names),
        the jobs writing and reading it."""
        rows = []
        for kind, namespace, name in self.nodes:
            if kind == "dataset":
                node = (kind, namespace, name)
                rows.append({"name": name, "namespace": namespace, "columns": ", ".join(self._columns_of((namespace, name))),
                             "written_by": ", ".join(sorted(j[2] for j in self._in.get(node, []))),
                             "read_by": ", ".join(sorted(j[2] for j in self._out.get(node, [])))})
        return pd.DataFrame(rows, columns=["name", "namespace", "columns", "written_by", "read_by"])

    def _columns_of(self, dataset: tuple[str, str]) -> list[str]:
        schema = self._facets.get(dataset, {}).get("schema")
        named = [f["name"] for f in (schema if isinstance(schema, dict) else {}).get("fields") or []
                 if isinstance(f, dict) and isinstance(f.get("name"), str)]
        in_lineage = [c for edge in self._columns for (ns, name, c) in edge if (ns, name) == dataset]
        return list(dict.fromkeys(named + in_lineage))

    # --- queries ----------------------------------------------------------------------------------------------

    def upstream(self, node: str | tuple[str, str], depth: int | None = None) -> pd.DataFrame:
        """What feeds a dataset (the jobs writing it and what they read, level by level) or a column (the columns it is
        computed from). `depth` limits the levels: a level is one job for a dataset, one column edge for a column."""
        return self._walk(node, depth, upstream=True)

    def downstream(self, node: str | tuple[str, str], depth: int | None = None) -> pd.DataFrame:
        """What a dataset feeds (the jobs reading it and what they write) or what breaks if a column changes (the
        columns computed from it, and the jobs computing them)."""
        return self._walk(node, depth, upstream=False)

    def _walk(self, node, depth: int | None, upstream: bool) -> pd.DataFrame:
        kind, found = self._resolve(node)
        if kind == "dataset":
            return self._walk_datasets(("dataset", *found), depth, self._in if upstream else self._out)
        return self._walk_columns(found, depth, self._column_in if upstream else self._column_out, upstream)

    def _walk_datasets(self, start: Node, depth: int | None, step: dict[Node, list[Node]]) -> pd.DataFrame:
        found: dict[Node, int] = {start: 0}
        frontier, level = [start], 0
        while frontier and (depth is None or level < depth):
            level, following = level + 1, []
            for dataset in frontier:
                for job in step.get(dataset, []):
                    if job in found:
                        continue
                    found[job] = level
                    for other in step.get(job, []):
                        if other not in found:
                            found[other] = level
                            following.append(other)
            frontier = following
        rows = [{"depth": level, "kind": kind, "name": name, "namespace": namespace}
                for (kind, namespace, name), level in found.items() if (kind, namespace, name) != start]
        table = pd.DataFrame(rows, columns=["depth", "kind", "name", "namespace"])
        # jobs first within a level: "written by this job, from these datasets"
        order = table.assign(_job=table.kind != "job").sort_values(["depth", "_job", "name"], kind="stable")
        return order.drop(columns="_job").reset_index(drop=True)

    def _walk_columns(self, start: Column, depth: int | None, step: dict[Column, list[Column]], upstream: bool) -> pd.DataFrame:
        found: dict[Column, dict] = {}
        frontier, level = [start], 0
        while frontier and (depth is None or level < depth):
            level, following = level + 1, []
            for column in frontier:
                for other in step.get(column, []):
                    if other == start:
                        continue
                    if other not in found:
                        found[other] = {"depth": level, "transformations": set(), "jobs": set(), "via": set()}
                        following.append(other)
                    if found[other]["depth"] == level:  # every edge reaching it at its depth: all its paths show
                        edge = self._columns[(other, column) if upstream else (column, other)]
                        found[other]["transformations"] |= edge["transformations"]
                        found[other]["jobs"] |= edge["jobs"]
                        found[other]["via"].add(f"{column[1]}.{column[2]}")
            frontier = following
        rows = [{"depth": info["depth"], "dataset": name, "column": column, "transformation": ", ".join(sorted(info["transformations"])),
                 "job": ", ".join(sorted(info["jobs"])), "via": ", ".join(sorted(info["via"])), "namespace": namespace}
                for (namespace, name, column), info in found.items()]
        table = pd.DataFrame(rows, columns=["depth", "dataset", "column", "transformation", "job", "via", "namespace"])
        return table.sort_values(["depth", "dataset", "column"], kind="stable").reset_index(drop=True)

    # --- names ------------------------------------------------------------------------------------------------

    def _resolve(self, node) -> tuple[str, tuple]:
        """("dataset", (namespace, name)) or ("column", (namespace, name, column)) for what a query names."""
        if isinstance(node, tuple):
            dataset, column = node
            return "column", self._column(self._dataset(dataset), column)
        if not isinstance(node, str):
            raise WorkbookError(f"Name a dataset or column as a string or (dataset, column), not {node!r}.")
        if self._matches(node):
            return "dataset", self._dataset(node)
        dataset, _, column = node.rpartition(".")
        if dataset and self._matches(dataset):
            return "column", self._column(self._dataset(dataset), column)
        self._unknown(node)

    def _unknown(self, node: str) -> NoReturn:
        known = [name for kind, _, name in self.nodes if kind == "dataset"]
        close = difflib.get_close_matches(node, known + [f"{d}.{c}" for _, d, c in self._column_in | self._column_out], n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; its datasets: {', '.join(sorted(known)) or 'none'}."
        raise WorkbookError(f"No dataset or column {node} in the lineage{hint}")

    def _matches(self, name: str) -> list[tuple[str, str]]:
        datasets = [(ns, n) for kind, ns, n in self.nodes if kind == "dataset"]
        exact = [d for d in datasets if name in (d[1], f"{d[0]}/{d[1]}")]
        # PostgreSQL folds unquoted names to lower case, the SQL a parser read may not have
        return exact or [d for d in datasets if name.casefold() in (d[1].casefold(), f"{d[0]}/{d[1]}".casefold())]

    def _dataset(self, name: str) -> tuple[str, str]:
        found = self._matches(name)
        if len(found) > 1:
            raise WorkbookError(f"{name} is in {len(found)} namespaces ({', '.join(ns for ns, _ in found)}): "
                                f"name it as namespace/name.")
        if not found:
            self._unknown(name)
        return found[0]

    def _column(self, dataset: tuple[str, str], column: str) -> Column:
        known = self._columns_of(dataset)
        hits = [c for c in known if c == column] or [c for c in known if c.casefold() == column.casefold()]
        if not hits:
            raise WorkbookError(f"{dataset[1]} has no column {column!r} in the lineage; its columns: "
                                f"{', '.join(known) or 'none (no schema or columnLineage facet)'}.")
        return (*dataset, hits[0])


def build(source, skip_job_types: Iterable[str] = ("QUERY",)) -> LineageGraph:
    """The graph of the events in `source` (a JSON-lines file, or events as dicts or JSON strings; see `events.read`)."""
    return LineageGraph(fold(source), skip_job_types)


def _transformations(source: dict, spec: dict) -> set[str]:
    """`TYPE/SUBTYPE` of an inputField's transformations (spec 1-2-0), else the field's older transformationType."""
    named = {"/".join(part for part in (t.get("type"), t.get("subtype")) if part)
             for t in source.get("transformations") or [] if isinstance(t, dict)} - {""}
    older = spec.get("transformationType")
    return named or ({older} if isinstance(older, str) and older else set())


# --- figure -------------------------------------------------------------------------------------------------------

def _back_edges(nodes: list[str], out: dict[str, list[str]]) -> set[tuple[str, str]]:
    """Edges that close a cycle (a job reading the table it writes, as an upsert does), found by a depth-first search:
    without them the graph has layers."""
    state: dict[str, int] = {}  # 1: on the search's path, 2: done
    back = set()

    def visit(node: str) -> None:
        state[node] = 1
        for other in out.get(node, []):
            if state.get(other) == 1:
                back.add((node, other))
            elif other not in state:
                visit(other)
        state[node] = 2

    for node in nodes:
        if node not in state:
            visit(node)
    return back


def _label(name: str) -> str:
    """Two lines, split at the first dot: `dag\\ntask` for a job, `database\\nschema.table` for a table; a path (an S3
    key) stays whole, its dot is the file's extension."""
    head, dot, tail = name.partition(".")
    return f"{head}\n{tail}" if dot and tail and "/" not in name else name


def layout(graph: LineageGraph) -> tuple[dict[Node, str], dict[str, list[str]], set[tuple[str, str]], dict[int, list[str]]]:
    """The figure's layout: an id per node, the edges by id, the edges closing a cycle, and the ids per column (a
    node's column is the longest path to it once those edges are set aside; each column ordered so few edges cross)."""
    from helpers.dagtools.dag_figures import ordered_columns

    ids = {node: f"{node[0]}:{node[1]}/{node[2]}" for node in graph.nodes}
    out: dict[str, list[str]] = {ids[node]: [] for node in graph.nodes}
    for source, target in graph._edges:
        out[ids[source]].append(ids[target])
    back = _back_edges(sorted(out), out)
    columns = ordered_columns({node: {"downstream": [t for t in targets if (node, t) not in back]}
                               for node, targets in out.items()})
    return ids, out, back, columns


def figure(graph: LineageGraph, title: str = "Lineage: datasets and jobs", name: str = "lineage_graph") -> Path:
    """The dataset/job graph from left to right in topological layers (a cycle's closing edge dashed): jobs blue and
    rounded, datasets sand and square. Saved under build/plots/; returns the path."""
    from matplotlib.patches import FancyBboxPatch, Patch

    from helpers.tooling.charts import _save, plt

    nodes = graph.nodes
    if not nodes:
        raise WorkbookError("The events name no dataset: nothing to draw (are lineage events reaching the file?).")
    ids, out, back, columns = layout(graph)
    gap, width, height = 3.4, 2.7, 0.62
    at = {node: (col * gap, -row * 1.0) for col, members in columns.items() for row, node in enumerate(members)}
    tallest = max(len(members) for members in columns.values())
    fig, ax = plt.subplots(figsize=(1.2 + 2.5 * len(columns), 1.3 + 0.72 * tallest))
    for source, targets in out.items():
        for target in targets:
            (x1, y1), (x2, y2) = at[source], at[target]
            if (source, target) in back:
                ax.annotate("", xy=(x2, y2 - height / 2), xytext=(x1, y1 - height / 2),
                            arrowprops={"arrowstyle": "->", "color": "#7b7d7d", "lw": 1.1, "linestyle": "--",
                                        "connectionstyle": "arc3,rad=-0.4"})  # under the boxes
                continue
            skips = x2 - x1 > 1.5 * gap  # an edge over a column would cross its boxes: bend it over them
            ax.annotate("", xy=(x2 - width / 2, y2), xytext=(x1 + width / 2, y1),
                        arrowprops={"arrowstyle": "->", "color": "#566573", "lw": 1.1,
                                    "connectionstyle": f"arc3,rad={-0.25 if skips else 0}"})
    for node in nodes:
        (x, y), job = at[ids[node]], node[0] == "job"
        ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                    boxstyle="round,pad=0.02,rounding_size=0.25" if job else "square,pad=0.02",
                                    facecolor=JOB_COLOUR if job else DATASET_COLOUR, edgecolor=JOB_EDGE if job else DATASET_EDGE,
                                    linewidth=1.0 if job else 1.5))
        ax.text(x, y, _label(node[2]), ha="center", va="center", fontsize=7, style="italic" if job else "normal")
    ax.set_xlim(-width / 2 - 0.3, gap * max(columns) + width / 2 + 0.3)
    ax.set_ylim(-tallest + 1 - height / 2 - 0.9 if back else -tallest + 1 - height / 2 - 0.3, height / 2 + 0.3)
    ax.axis("off")
    ax.legend(handles=[Patch(facecolor=JOB_COLOUR, edgecolor=JOB_EDGE, label="job (Airflow task)"),
                       Patch(facecolor=DATASET_COLOUR, edgecolor=DATASET_EDGE, label="dataset (table)")],
              loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
    counts = graph.counts()
    ax.set_title(f"{title}\n{counts['datasets']} datasets, {counts['jobs']} jobs, {counts['edges']} edges", fontsize=10)
    return _save(fig, name)
