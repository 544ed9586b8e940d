"""OpenLineage run events as the Airflow provider emits them, read and folded into runs.

The provider's file transport (`{"type": "file", "log_file_path": ..., "append": true}`) writes one RunEvent a line;
an HTTP receiver stores the bodies posted to it. `read` takes either (a file, a list of dicts, any iterable of dicts or
JSON lines), checks the little this module relies on, and orders the events by eventTime: the listener emits from
forked processes and a receiver stores what arrives first, so a run's COMPLETE can precede its START in the file.
`fold` makes one `Run` per runId; `runs_table` and `per_job` show them. `fetch` reads the events a Marquez-compatible
API holds (Marquez on AWS, the local cloud's lineage receiver locally).

Facets this module does not know (the provider's `airflow`, `processing_engine`, `unknownSourceAttribute`, a custom
one) are kept on the run or dataset and otherwise ignored: producers add facets freely, the spec says consumers may.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.errors import WorkbookError

EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
TERMINAL = ("COMPLETE", "ABORT", "FAIL")
# at one instant a run's START goes before what follows it, whatever order the lines were written in
_RANK = {"START": 0, "RUNNING": 1, "OTHER": 1, "COMPLETE": 2, "ABORT": 2, "FAIL": 2}
# JVM producers write nanoseconds; datetime reads at most microseconds
_FRACTION = re.compile(r"(\.\d{6})\d+")


def event_time(text: str) -> datetime:
    """An eventTime as an aware UTC datetime (ISO 8601 with `Z` or an offset; a time without one is taken as UTC)."""
    moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- reading ------------------------------------------------------------------------------------------------------

def read(source: str | Path | Iterable[dict | str] | dict) -> list[dict]:
    """The RunEvents of `source` ordered by eventTime (ties: START, then RUNNING, then the end; then as given).

    `source` is a JSON-lines file (str or Path), or events as dicts or JSON strings. A malformed event stops the read
    with a one-line WorkbookError naming its line (`events.jsonl line 7: ...`) or position (`event 7: ...`)."""
    ordered = []
    for number, (where, event) in enumerate(_items(source)):
        when, kind = _check(event, where)
        ordered.append(((when, _RANK[kind], number), event))
    return [event for _, event in sorted(ordered, key=lambda pair: pair[0])]


def fetch(base_url: str, namespace: str | None = None, page: int = 500, timeout: float = 30,
          since: datetime | None = None) -> list[dict]:
    """Every RunEvent a Marquez-compatible API at `base_url` holds (its `GET /api/v1/events/lineage`, page by page),
    those of jobs in `namespace` only when given, and from `since` on (an aware datetime) when given, ordered as
    `read` orders them. `since` keeps out what an interrupted run left (Marquez never forgets an event).

    Pages are asked oldest first: events arriving while it reads are later ones, so they land after the pages already
    read instead of shifting them. An answer other than 200, or none, is a one-line WorkbookError."""
    if page < 1:
        raise WorkbookError(f"page is how many events to ask for at once: at least 1, not {page}.")
    base = base_url.rstrip("/")
    found: list[dict] = []
    offset = 0
    while True:
        query = urllib.parse.urlencode({"limit": page, "offset": offset, "sortDirection": "asc"})
        answer = _get_json(f"{base}/api/v1/events/lineage?{query}", base, timeout)
        batch = answer.get("events") if isinstance(answer, dict) else None
        if not isinstance(batch, list):
            raise WorkbookError(f"Marquez at {base} answered without an events list: is it Marquez's API?")
        found.extend(event for event in batch if namespace is None or
                     (isinstance(event, dict) and isinstance(event.get("job"), dict)
                      and event["job"].get("namespace") == namespace))
        offset += len(batch)
        total = answer.get("totalCount")
        # Marquez counts dataset and job events in totalCount but lists run events only: a short page ends the read
        if len(batch) < page or (isinstance(total, int) and offset >= total):
            ordered = read(found)
            return ordered if since is None else [event for event in ordered if event_time(event["eventTime"]) >= since]


def _get_json(url: str, base: str, timeout: float) -> Any:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/json"}),
                                    timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        raise WorkbookError(f"Marquez at {base} answered {error.code}: {_message(error)}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise WorkbookError(f"The lineage backend at {base} is not reachable ({reason}): start it (locally: "
                            "`python -m helpers.localcloud up`) or check the URL.") from None
    try:
        return json.loads(body)
    except ValueError:
        raise WorkbookError(f"Marquez at {base} answered with something that is not JSON: is it Marquez's API?") from None


def _message(error: urllib.error.HTTPError) -> str:
    """The `message` of Marquez's error body, else the body's start, else the status's reason."""
    text = error.read().decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return " ".join(text.split())[:200] or str(error.reason)


def _items(source) -> Iterator[tuple[str, Any]]:
    if isinstance(source, dict):
        source = [source]
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise WorkbookError(f"No events file {path}: point to the file transport's log_file_path.")
        with path.open() as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():  # the transport ends every event with a newline; a blank line is no event
                    yield f"{path.name} line {number}", _parsed(line, f"{path.name} line {number}")
        return
    for number, item in enumerate(source, start=1):
        where = f"event {number}"
        yield where, _parsed(item, where) if isinstance(item, str | bytes) else item


def _parsed(text: str | bytes, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise WorkbookError(f"{where}: not JSON ({error.msg} at column {error.colno}).") from None


def _check(event: Any, where: str) -> tuple[datetime, str]:
    """The event's time and type, once its shape is one this module can fold."""
    if not isinstance(event, dict):
        raise WorkbookError(f"{where}: an OpenLineage event is a JSON object, not {type(event).__name__}.")
    kind = event.get("eventType") or "OTHER"  # the spec makes eventType optional
    if kind not in EVENT_TYPES:
        raise WorkbookError(f"{where}: eventType {kind!r} is none of {', '.join(EVENT_TYPES)}.")
    if not isinstance(event.get("eventTime"), str):
        raise WorkbookError(f"{where}: no eventTime.")
    try:
        when = event_time(event["eventTime"])
    except ValueError:
        raise WorkbookError(f"{where}: eventTime {event['eventTime']!r} is not an ISO 8601 time.") from None
    run, job = event.get("run"), event.get("job")
    if not isinstance(run, dict) or not isinstance(run.get("runId"), str) or not run["runId"]:
        raise WorkbookError(f"{where}: no run.runId (a RunEvent names its run; job and dataset events have none).")
    if not isinstance(job, dict) or not all(isinstance(job.get(key), str) and job[key] for key in ("namespace", "name")):
        raise WorkbookError(f"{where}: no job.namespace and job.name.")
    _check_facets(run.get("facets"), "run.facets", where)
    _check_facets(job.get("facets"), "job.facets", where)
    for side in ("inputs", "outputs"):
        datasets = event.get(side) or []
        if not isinstance(datasets, list):
            raise WorkbookError(f"{where}: {side} is not a list.")
        for index, dataset in enumerate(datasets):
            at = f"{side}[{index}]"
            if not isinstance(dataset, dict) or not all(isinstance(dataset.get(key), str) and dataset[key]
                                                        for key in ("namespace", "name")):
                raise WorkbookError(f"{where}: {at} has no namespace and name.")
            for facets in ("facets", "inputFacets", "outputFacets"):
                _check_facets(dataset.get(facets), f"{at}.{facets}", where)
            _check_column_lineage((dataset.get("facets") or {}).get("columnLineage"), f"{at}.facets.columnLineage", where)
    return when, kind


def _check_facets(facets: Any, at: str, where: str) -> None:
    if facets is not None and not isinstance(facets, dict):
        raise WorkbookError(f"{where}: {at} is not an object.")


def _check_column_lineage(facet: Any, at: str, where: str) -> None:
    """The columnLineage facet's `fields`: output column -> {inputFields: [{namespace, name, field}]} (spec 1-2-0)."""
    if facet is None:
        return
    fields = facet.get("fields") if isinstance(facet, dict) else None
    if not isinstance(fields, dict):
        raise WorkbookError(f"{where}: {at} has no fields object.")
    for column, spec in fields.items():
        sources = spec.get("inputFields") if isinstance(spec, dict) else None
        if not isinstance(sources, list) or not all(
                isinstance(source, dict) and all(isinstance(source.get(key), str) for key in ("namespace", "name", "field"))
                for source in sources):
            raise WorkbookError(f"{where}: {at}.fields.{column} needs inputFields with namespace, name and field.")


# --- runs ---------------------------------------------------------------------------------------------------------

@dataclass
class Dataset:
    """A dataset as a run saw it: its facets (dataset, input and output facets in one dict) merged over the run's events."""

    namespace: str
    name: str
    facets: dict = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The column names of its schema facet, if a producer sent one."""
        schema = self.facets.get("schema")
        fields = schema.get("fields") if isinstance(schema, dict) else None
        return [f["name"] for f in fields or [] if isinstance(f, dict) and isinstance(f.get("name"), str)]


@dataclass
class Run:
    """One runId's events folded: the last terminal event (COMPLETE, FAIL, ABORT) sets the state, none means RUNNING."""

    run_id: str
    job_namespace: str
    job: str
    state: str = "RUNNING"
    start: datetime | None = None
    end: datetime | None = None
    error: str | None = None
    events: int = 0
    job_facets: dict = field(default_factory=dict)
    run_facets: dict = field(default_factory=dict)
    inputs: dict[tuple[str, str], Dataset] = field(default_factory=dict)
    outputs: dict[tuple[str, str], Dataset] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        """Seconds from START to the end, when both were seen."""
        return (self.end - self.start).total_seconds() if self.start and self.end else None

    @property
    def job_type(self) -> str | None:
        """The jobType facet's type: the provider's DAG, TASK, or QUERY (one SQL statement of a task's hook)."""
        facet = self.job_facets.get("jobType")
        return facet.get("jobType") if isinstance(facet, dict) else None

    @property
    def parent(self) -> str | None:
        """The parent run facet's job: a task's DAG, a query's task."""
        facet = self.run_facets.get("parent")
        job = facet.get("job") if isinstance(facet, dict) else None
        return job.get("name") if isinstance(job, dict) else None


def fold(source: str | Path | Iterable[dict | str] | dict) -> list[Run]:
    """One Run per runId, in the order the runs were first seen; `source` as `read` takes it.

    Inputs and outputs are merged over the run's events (a START often lacks the outputs, or their schema, which a
    COMPLETE has); facets of a later event replace those of an earlier one with the same name."""
    runs: dict[str, Run] = {}
    for event in read(source):
        kind, when = event.get("eventType") or "OTHER", event_time(event["eventTime"])
        run_facets, job_facets = event["run"].get("facets") or {}, event["job"].get("facets") or {}
        run = runs.setdefault(event["run"]["runId"], Run(event["run"]["runId"], event["job"]["namespace"], event["job"]["name"]))
        run.events += 1
        if kind == "START" and run.start is None:  # events are ordered: the first START is the earliest
            run.start = when
        if kind in TERMINAL:
            failure = run_facets.get("errorMessage")
            run.state, run.end = kind, when
            run.error = failure.get("message") if kind == "FAIL" and isinstance(failure, dict) else None
        run.run_facets.update(run_facets)
        run.job_facets.update(job_facets)
        _merge(run.inputs, event.get("inputs") or [], "inputFacets")
        _merge(run.outputs, event.get("outputs") or [], "outputFacets")
    return list(runs.values())


def _merge(seen: dict[tuple[str, str], Dataset], datasets: list[dict], side_facets: str) -> None:
    for dataset in datasets:
        key = (dataset["namespace"], dataset["name"])
        known = seen.setdefault(key, Dataset(*key))
        known.facets.update(dataset.get("facets") or {})
        known.facets.update(dataset.get(side_facets) or {})


RUN_COLUMNS = ["job", "job_type", "state", "start", "end", "seconds", "error", "inputs", "outputs", "parent", "events",
               "run_id"]


def runs_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run, by job then start: state, start and end (UTC), seconds, a failure's message, the datasets read
    and written (names, comma-separated), the parent job, how many events told it, the runId."""
    rows = [{"job": run.job, "job_type": run.job_type, "state": run.state, "start": run.start, "end": run.end,
             "seconds": run.duration, "error": run.error, "inputs": ", ".join(sorted(name for _, name in run.inputs)),
             "outputs": ", ".join(sorted(name for _, name in run.outputs)), "parent": run.parent, "events": run.events,
             "run_id": run.run_id} for run in runs]
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for column in ("start", "end"):
        table[column] = pd.to_datetime(table[column], utc=True)
    table["seconds"] = table["seconds"].astype(float)
    return table.sort_values(["job", "start"], na_position="last", kind="stable").reset_index(drop=True)


def per_job(runs: list[Run]) -> pd.DataFrame:
    """One row per job: how many runs, how many ended in each state, the last run's state and the mean seconds of the
    runs that ended."""
    table = runs_table(runs)
    if table.empty:
        return pd.DataFrame(columns=["job", "runs", *TERMINAL, "RUNNING", "last_state", "mean_seconds"])
    summary = table.groupby("job", sort=True).agg(runs=("run_id", "size"), last_state=("state", "last"),
                                                  mean_seconds=("seconds", "mean"))
    states = pd.crosstab(table.job, table.state).reindex(columns=[*TERMINAL, "RUNNING"], fill_value=0)
    return summary.join(states)[["runs", *TERMINAL, "RUNNING", "last_state", "mean_seconds"]].reset_index()
