"""The local OpenLineage receiver (Marquez's API subset) and `events.fetch`, which reads any Marquez-compatible API.

The WSGI app is driven directly with werkzeug's test client; `fetch` against the app served on a loopback port; one
test goes through the local cloud's gateway with the OpenLineage python client's own HTTP transport."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from pathlib import Path

import pytest
from werkzeug.serving import make_server
from werkzeug.test import Client

from helpers.chapters.lineage import events
from helpers.errors import WorkbookError
from helpers.localcloud.emulators.lineage_receiver import LineageReceiver

FIXTURE = Path(__file__).parent / "fixtures" / "lineage" / "star_schema.jsonl"
LISTED = "/api/v1/events/lineage"


def star_events() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def event(when: str, namespace: str = "default", name: str = "dag.task", kind: str = "START", **extra) -> dict:
    return {"eventTime": when, "eventType": kind, "producer": "tests", "run": {"runId": str(uuid.uuid4())},
            "job": {"namespace": namespace, "name": name}, **extra}


def post(client: Client, body, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/api/v1/lineage", data=data, headers={"Content-Type": "application/json", **headers})


def listed(client: Client, **params) -> dict:
    response = client.get(LISTED, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def times(answer: dict) -> list[str]:
    return [e["eventTime"] for e in answer["events"]]


@pytest.fixture
def client(tmp_path):
    return Client(LineageReceiver(tmp_path / "lineage"))


# --- POST and GET -------------------------------------------------------------------------------------------------

def test_a_posted_event_is_201_with_no_body_and_comes_back_as_posted_newest_first(client):
    posted = star_events()
    for e in posted:
        response = post(client, e)
        assert (response.status_code, response.get_data()) == (201, b"")
    answer = listed(client)
    assert answer["totalCount"] == len(posted) == len(answer["events"])
    assert times(answer) == sorted((e["eventTime"] for e in posted), reverse=True)
    by_time = {e["eventTime"]: e for e in posted}
    assert all(e == by_time[e["eventTime"]] for e in answer["events"])  # facets and all, unchanged


def test_ascending_pages_cover_every_event_once_and_total_count_is_the_window_not_the_page(client):
    for e in star_events():
        post(client, e)
    pages = [listed(client, sortDirection="asc", limit=4, offset=offset) for offset in (0, 4, 8, 12, 16)]
    assert [len(p["events"]) for p in pages] == [4, 4, 4, 2, 0]
    assert {p["totalCount"] for p in pages} == {14}
    joined = [t for p in pages for t in times(p)]
    assert joined == sorted(e["eventTime"] for e in star_events())


def test_after_is_included_before_is_excluded_and_offsets_are_read_in_any_notation(client):
    for second in range(5):
        post(client, event(f"2026-01-01T00:00:0{second}Z"))
    answer = listed(client, after="2026-01-01T01:00:01+01:00", before="2026-01-01T00:00:04.000000000Z")
    assert times(answer) == ["2026-01-01T00:00:03Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:01Z"]
    assert answer["totalCount"] == 3
    # an offset's `+` sent without URL encoding arrives as a space
    unencoded = client.get(f"{LISTED}?after=2026-01-01T01:00:03+01:00")
    assert times(unencoded.get_json()) == ["2026-01-01T00:00:04Z", "2026-01-01T00:00:03Z"]


def test_marquez_defaults_limit_100_and_nothing_from_2030_on(client):
    for n in range(101):
        post(client, event(f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z"))
    post(client, event("2030-01-01T00:00:00Z"))
    answer = listed(client)
    assert (len(answer["events"]), answer["totalCount"]) == (100, 101)
    assert answer["events"][0]["eventTime"] == "2026-01-01T00:01:40Z"  # desc: the newest before 2030 first
    assert times(listed(client, after="2029-01-01T00:00:00Z", before="2031-01-01T00:00:00Z")) == ["2030-01-01T00:00:00Z"]


def test_events_at_the_same_time_keep_the_order_they_arrived_in_even_across_a_delete(client):
    post(client, event("2026-01-01T00:00:00Z", namespace="dropped"))
    post(client, event("2026-01-01T00:00:00Z", name="job0"))
    post(client, event("2026-01-01T00:00:00Z", name="job1"))
    assert client.delete("/api/v1/namespaces/dropped").status_code == 200
    for n in (2, 3):
        post(client, event("2026-01-01T00:00:00Z", name=f"job{n}"))
    assert [e["job"]["name"] for e in listed(client, sortDirection="asc")["events"]] == ["job0", "job1", "job2", "job3"]
    assert [e["job"]["name"] for e in listed(client, sortDirection="DESC")["events"]] == ["job3", "job2", "job1", "job0"]


def test_a_gzip_body_as_the_client_s_compression_option_sends_it_is_stored(client):
    from openlineage.client.transport.http import HttpCompression, HttpConfig, HttpTransport

    transport = HttpTransport(HttpConfig(url="http://unused", compression=HttpCompression.GZIP))
    body, headers = transport._prepare_request(json.dumps(event("2026-01-01T00:00:00Z", name="zipped")))
    assert headers["Content-Encoding"] == "gzip"
    assert post(client, body, **headers).status_code == 201
    assert [e["job"]["name"] for e in listed(client)["events"]] == ["zipped"]


# --- refusals -----------------------------------------------------------------------------------------------------

GOOD = event("2026-01-01T00:00:00Z")


@pytest.mark.parametrize(("body", "headers", "message"), [
    (b"{not json", {}, "Unable to process JSON"),
    (json.dumps([GOOD]).encode(), {}, "A lineage event is a JSON object, not list"),
    ({k: v for k, v in GOOD.items() if k != "eventTime"}, {}, "eventTime must not be null"),
    ({**GOOD, "eventTime": "yesterday"}, {}, "eventTime 'yesterday' is not an ISO 8601 date-time"),
    ({k: v for k, v in GOOD.items() if k != "run"}, {}, "run.runId must not be null (only RunEvents are received)"),
    ({**GOOD, "run": {"runId": "run-1"}}, {}, "run.runId 'run-1' is not a UUID"),
    ({**GOOD, "job": {"namespace": "default"}}, {}, "job.namespace and job.name must not be null"),
    ({k: v for k, v in GOOD.items() if k != "producer"}, {}, "producer must not be null"),
    (json.dumps(GOOD).encode(), {"Content-Encoding": "gzip"}, "Content-Encoding gzip, but the body is not gzip data"),
], ids=["not-json", "a-list", "no-time", "bad-time", "no-run", "run-id", "no-job-name", "no-producer", "not-gzip"])
def test_a_bad_event_is_400_with_marquez_s_error_body_and_not_stored(client, body, headers, message):
    response = post(client, body, **headers)
    answer = response.get_json()
    assert (response.status_code, sorted(answer), answer["code"]) == (400, ["code", "message"], 400)
    assert answer["message"] == message or answer["message"].startswith("Unable to process JSON: ")
    assert listed(client)["totalCount"] == 0


@pytest.mark.parametrize(("query", "message"), [
    ("limit=-1", "query param limit must be greater than or equal to 0"),
    ("offset=two", "query param offset 'two' is not an integer"),
    ("sortDirection=up", "sortDirection 'up' is neither asc nor desc"),
    ("before=soon", "query param before 'soon' is not an ISO 8601 date-time"),
])
def test_bad_query_parameters_are_400(client, query, message):
    response = client.get(f"{LISTED}?{query}")
    assert (response.status_code, response.get_json()) == (400, {"code": 400, "message": message})


def test_what_marquez_has_and_this_receiver_does_not_is_404_and_wrong_methods_405(client):
    graph = client.get("/api/v1/lineage?nodeId=job:default:dag.task")
    assert graph.status_code == 404 and "GET /api/v1/events/lineage" in graph.get_json()["message"]
    assert client.get("/api/v1/jobs").get_json() == {"code": 404, "message": "HTTP 404 Not Found"}
    assert client.put("/api/v1/lineage").status_code == 405
    assert client.post(LISTED).status_code == 405


# --- DELETE and persistence ---------------------------------------------------------------------------------------

def test_deleting_a_namespace_drops_its_jobs_events_only_and_a_second_delete_is_404(tmp_path, client):
    for e in star_events():
        post(client, e)
    post(client, event("2026-12-03T10:00:00Z", namespace="other"))
    post(client, event("2026-12-03T10:00:01Z", namespace="postgres://127.0.0.1:5432"))

    response = client.delete("/api/v1/namespaces/default")
    assert response.status_code == 200
    assert response.get_json() == {"name": "default", "createdAt": "2026-12-03T09:40:01.102345Z",
                                   "updatedAt": "2026-12-03T09:41:12.000000Z", "ownerName": "anonymous",
                                   "description": None, "isHidden": False}
    left = {e["job"]["namespace"] for e in listed(client)["events"]}
    assert left == {"other", "postgres://127.0.0.1:5432"}
    # a namespace with slashes, percent-encoded as a client sends it
    assert client.delete("/api/v1/namespaces/postgres:%2F%2F127.0.0.1:5432").status_code == 200
    again = client.delete("/api/v1/namespaces/default")
    assert (again.status_code, again.get_json()) == (404, {"code": 404, "message": "Namespace 'default' not found."})
    restarted = Client(LineageReceiver(tmp_path / "lineage"))
    assert [e["job"]["namespace"] for e in listed(restarted)["events"]] == ["other"]


def test_events_survive_a_new_receiver_in_the_same_folder_and_a_torn_last_line_is_dropped(tmp_path, client):
    for e in star_events()[:3]:
        post(client, e)
    stored = tmp_path / "lineage" / "events.jsonl"
    with stored.open("ab") as file:
        file.write(b'{"eventTime": "2026-')  # a write cut short by a crash
    restarted = Client(LineageReceiver(tmp_path / "lineage"))
    assert listed(restarted) == listed(client)
    post(restarted, event("2026-12-04T00:00:00Z", name="after.restart"))
    again = Client(LineageReceiver(tmp_path / "lineage"))
    assert [e["job"]["name"] for e in listed(again, sortDirection="asc")["events"]][-1] == "after.restart"
    assert listed(again)["totalCount"] == 4


def test_many_threads_posting_at_once_lose_nothing_and_write_whole_lines(tmp_path):
    app = LineageReceiver(tmp_path / "lineage")

    def worker(n: int) -> None:
        local = Client(app)
        for k in range(25):
            assert post(local, event(f"2026-01-01T00:00:{k:02d}Z", name=f"w{n}", producer="x" * 2000)).status_code == 201

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (tmp_path / "lineage" / "events.jsonl").read_text().splitlines()
    assert len(lines) == 200 and all(json.loads(line)["producer"] == "x" * 2000 for line in lines)
    assert listed(Client(LineageReceiver(tmp_path / "lineage")), limit=500)["totalCount"] == 200


# --- fetch ----------------------------------------------------------------------------------------------------------

@pytest.fixture
def served(tmp_path):
    """The receiver on a loopback port, as `fetch` reaches Marquez: (base URL, app)."""
    app = LineageReceiver(tmp_path / "lineage")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}", app
    server.shutdown()
    thread.join()


def test_fetch_reads_every_page_and_filters_to_a_job_namespace(served):
    base, app = served
    posted = star_events()
    for e in posted:
        app.store.add(e)
    app.store.add(event("2026-12-03T09:40:02Z", namespace="other"))
    got = events.fetch(base + "/", namespace="default", page=3)
    assert got == events.read(posted)
    assert len(events.fetch(base, page=5)) == 15
    assert [r.state for r in events.fold(got) if r.job == "rs_staging_to_dm.load_fact_sales"] == ["FAIL", "COMPLETE"]


def test_fetch_errors_are_one_line_and_name_the_url(served):
    base, _ = served
    with pytest.raises(WorkbookError, match=r"^Marquez at http://127\.0\.0\.1:\d+/nothing answered 404: HTTP 404 Not Found$"):
        events.fetch(f"{base}/nothing")  # a base with a path: everything under it is unknown
    closed = unused_port_url()
    with pytest.raises(WorkbookError, match=rf"^The lineage backend at {closed} is not reachable \(.*refused"):
        events.fetch(closed)
    with pytest.raises(WorkbookError, match="at least 1, not 0"):
        events.fetch(base, page=0)


def unused_port_url() -> str:
    """A loopback URL whose port was free a moment ago: nothing listens there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# --- through the gateway ------------------------------------------------------------------------------------------

def test_the_openlineage_client_posts_through_the_gateway_and_fetch_reads_it_back(module_cloud):
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.transport.http import HttpCompression, HttpConfig, HttpTransport

    from helpers import localcloud

    base = localcloud.endpoint()
    namespace = f"tests-lineage-{uuid.uuid4().hex[:8]}"
    run_id = str(uuid.uuid4())
    plain = HttpTransport(HttpConfig(url=base, endpoint="api/v1/lineage"))
    zipped = HttpTransport(HttpConfig(url=base, endpoint="api/v1/lineage", compression=HttpCompression.GZIP))
    job = Job(namespace=namespace, name="dag.task")
    # the COMPLETE arrives first, as forked listener processes can make it
    zipped.emit(RunEvent(eventType=RunState.COMPLETE, eventTime="2026-01-01T00:00:05Z", run=Run(runId=run_id), job=job))
    plain.emit(RunEvent(eventType=RunState.START, eventTime="2026-01-01T00:00:00Z", run=Run(runId=run_id), job=job))

    got = events.fetch(base, namespace=namespace)
    assert [(e["eventType"], e["run"]["runId"]) for e in got] == [("START", run_id), ("COMPLETE", run_id)]
    [run] = events.fold(got)
    assert (run.state, run.duration) == ("COMPLETE", 5.0)
    [stored] = module_cloud.state.rglob("lineage/events.jsonl")  # under the local cloud's state folder
    assert stored.read_text().count(namespace) == 2
