"""An OpenLineage receiver with Marquez's API shape, so notebook 08 reads lineage with the same code locally and on AWS.

The Airflow provider's HTTP transport (`{"type": "http", "url": <gateway>, "endpoint": "api/v1/lineage"}`) posts here;
`helpers.chapters.lineage.events.fetch` reads back through Marquez's events API. The subset of Marquez served (routed
by the gateway's path prefix `/api/v1/`):

- `POST /api/v1/lineage`: one RunEvent (JSON, `Content-Encoding: gzip` accepted, as the python client's `compression`
  option sends it). Stored, then 201 with an empty body.
- `GET /api/v1/events/lineage?before=&after=&sortDirection=&limit=&offset=`: `{"events": [...], "totalCount": n}`,
  Marquez's defaults (before 2030-01-01T00:00:00+00:00 excluded, after 1970-01-01 included, desc, 100, 0);
  totalCount counts the events in the time window, not the page.
- `DELETE /api/v1/namespaces/{namespace}`: 200 with the namespace in Marquez's shape, or 404 `Namespace '<n>' not
  found.`

Where it differs from Marquez (1.x, `marquez.api.OpenLineageResource`, `NamespaceResource`):
- Only RunEvents: a DatasetEvent or JobEvent (no run) is refused with 400 instead of stored.
- A bad body is a 400 `{"code": 400, "message": ...}`. Marquez answers unreadable JSON with HTTP 500 (its mapper
  builds the 400 body on a server-error response) and a missing required field with Dropwizard's 422
  `{"errors": [...]}`; both are refusals, and the transport raises on either.
- DELETE removes the namespace's events (their job namespace is the one named). Marquez soft-deletes: the namespace,
  its jobs and datasets are hidden from its other APIs, while the raw events stay listed by `/events/lineage`.
  The namespace answered carries the first and last eventTime of its events as createdAt and updatedAt.
- No lineage graph (`GET /api/v1/lineage?nodeId=`), no jobs, datasets, runs, search or UI: 404 here.
- Events at the same eventTime come back in the order they arrived (Marquez leaves their order to PostgreSQL).

Storage: `events.jsonl` in the folder given (the local cloud's `<state>/lineage/`), one event a line, appended under a
lock because the gateway is threaded and many Airflow workers post at once; the events are also held in memory, so
reads do not touch the file. A DELETE rewrites the file with a rename, so a crash leaves the old or the new file.

AWS's one API under `/api/v1/` is WorkDocs, which moto does not serve either: the prefix is free in the gateway.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import re
import sys
import threading
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from werkzeug.wrappers import Request, Response

PREFIX = "/api/v1/"
# Marquez's @DefaultValue of `before` and `after` on GET /events/lineage
DEFAULT_BEFORE = datetime(2030, 1, 1, tzinfo=UTC)
DEFAULT_AFTER = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_LIMIT = 100
# JVM producers write nanoseconds; datetime reads at most microseconds
_FRACTION = re.compile(r"(\.\d{6})\d+")


class BadRequest(Exception):
    """Answered as 400 with Marquez's error body."""


def parse_time(text: str) -> datetime:
    """ISO 8601 (`Z` or an offset) as an aware UTC datetime; without an offset, UTC. ValueError if it is none."""
    moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def checked(event) -> datetime:
    """The eventTime of a RunEvent Marquez would store; BadRequest naming what is missing otherwise."""
    if not isinstance(event, dict):
        raise BadRequest(f"A lineage event is a JSON object, not {type(event).__name__}")
    if not isinstance(event.get("eventTime"), str):
        raise BadRequest("eventTime must not be null")
    try:
        when = parse_time(event["eventTime"])
    except ValueError:
        raise BadRequest(f"eventTime {event['eventTime']!r} is not an ISO 8601 date-time") from None
    run, job = event.get("run"), event.get("job")
    if not isinstance(run, dict) or not isinstance(run.get("runId"), str):
        raise BadRequest("run.runId must not be null (only RunEvents are received)")
    try:
        uuid.UUID(run["runId"])
    except ValueError:
        raise BadRequest(f"run.runId {run['runId']!r} is not a UUID") from None
    if not isinstance(job, dict) or not all(isinstance(job.get(key), str) and job[key] for key in ("namespace", "name")):
        raise BadRequest("job.namespace and job.name must not be null")
    if not isinstance(event.get("producer"), str):
        raise BadRequest("producer must not be null")
    return when


@dataclass(frozen=True)
class Stored:
    when: datetime
    arrival: int
    event: dict

    @property
    def namespace(self) -> str:
        return self.event["job"]["namespace"]


class LineageStore:
    """The received events of one local cloud, kept in `folder/events.jsonl` and in memory."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / "events.jsonl"
        self.lock = threading.Lock()
        self.events: list[Stored] = []
        self._arrivals = itertools.count()  # not len(events): a DELETE shortens the list, arrival order must hold
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        complete = data[:data.rfind(b"\n") + 1]
        if len(complete) != len(data):  # a write cut short by a crash: drop it, or the next append would join it
            with self.path.open("r+b") as file:
                file.truncate(len(complete))
        for number, line in enumerate(complete.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                self.events.append(Stored(checked(event), next(self._arrivals), event))
            except (ValueError, BadRequest) as error:  # one damaged line must not keep the gateway from starting
                print(f"{self.path} line {number} skipped: {error}", file=sys.stderr)

    def add(self, event: dict) -> None:
        when = checked(event)
        line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as file:
                file.write(line)  # one write of a whole line: never interleaved with another thread's, under the lock
            self.events.append(Stored(when, next(self._arrivals), event))

    def page(self, before: datetime, after: datetime, ascending: bool, limit: int, offset: int) -> tuple[list, int]:
        """The events with after <= eventTime < before, ordered, from `offset`, at most `limit`; and how many match."""
        with self.lock:
            window = [s for s in self.events if after <= s.when < before]
        window.sort(key=lambda s: (s.when, s.arrival), reverse=not ascending)
        return [s.event for s in window[offset:offset + limit]], len(window)

    def drop_namespace(self, namespace: str) -> list[Stored] | None:
        """Removes the events of jobs in `namespace` and returns them; None when there were none."""
        with self.lock:
            dropped = [s for s in self.events if s.namespace == namespace]
            if not dropped:
                return None
            kept = [s for s in self.events if s.namespace != namespace]
            partial = self.path.with_suffix(".jsonl.new")
            partial.write_bytes(b"".join(json.dumps(s.event, separators=(",", ":")).encode() + b"\n" for s in kept))
            os.replace(partial, self.path)
            self.events = kept
            return dropped


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"code": status, "message": message}), status=status, content_type="application/json")


def _json(payload, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class LineageReceiver:
    """The WSGI app the gateway routes `/api/v1/` to."""

    def __init__(self, folder: Path):
        self.store = LineageStore(folder)

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except BadRequest as error:
            response = _error(400, str(error))
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path in ("/api/v1/lineage", "/api/v1/lineage/"):
            if method == "GET":
                return _error(404, "The lineage graph (GET /api/v1/lineage?nodeId=) is Marquez's; this receiver "
                                   "serves the events only: GET /api/v1/events/lineage")
            return self._post(request) if method == "POST" else _error(405, "HTTP 405 Method Not Allowed")
        if path == "/api/v1/events/lineage":
            return self._list(request) if method == "GET" else _error(405, "HTTP 405 Method Not Allowed")
        if path.startswith("/api/v1/namespaces/") and len(path) > len("/api/v1/namespaces/"):
            if method != "DELETE":
                return _error(405, "HTTP 405 Method Not Allowed")
            return self._delete(path[len("/api/v1/namespaces/"):])
        return _error(404, "HTTP 404 Not Found")

    def _post(self, request: Request) -> Response:
        body = request.get_data(cache=False)
        if "gzip" in request.headers.get("Content-Encoding", "").lower():
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                raise BadRequest("Content-Encoding gzip, but the body is not gzip data") from None
        try:
            event = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise BadRequest(f"Unable to process JSON: {error}") from None
        self.store.add(event)
        return Response(status=201)

    def _list(self, request: Request) -> Response:
        args = request.args
        before, after = (_time_param(args, name, default) for name, default in
                         (("before", DEFAULT_BEFORE), ("after", DEFAULT_AFTER)))
        direction = (args.get("sortDirection") or "desc").lower()
        if direction not in ("asc", "desc"):
            raise BadRequest(f"sortDirection {args.get('sortDirection')!r} is neither asc nor desc")
        limit, offset = _count_param(args, "limit", DEFAULT_LIMIT), _count_param(args, "offset", 0)
        events, total = self.store.page(before, after, direction == "asc", limit, offset)
        return _json({"events": events, "totalCount": total})

    def _delete(self, namespace: str) -> Response:
        dropped = self.store.drop_namespace(namespace)
        if dropped is None:
            return _error(404, f"Namespace '{namespace}' not found.")
        times = [s.when for s in dropped]
        return _json({"name": namespace, "createdAt": _iso(min(times)), "updatedAt": _iso(max(times)),
                      "ownerName": "anonymous", "description": None, "isHidden": False})


def _time_param(args, name: str, default: datetime) -> datetime:
    text = args.get(name)
    if not text:
        return default
    try:
        return parse_time(text.replace(" ", "+"))  # an offset's `+` sent unencoded arrives as a space
    except ValueError:
        raise BadRequest(f"query param {name} {text!r} is not an ISO 8601 date-time") from None


def _count_param(args, name: str, default: int) -> int:
    text = args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"query param {name} {text!r} is not an integer") from None
    if value < 0:
        raise BadRequest(f"query param {name} must be greater than or equal to 0")
    return value
