"""The local sample JSON API (notebook 09's assets producer fetches from it): driven as a WSGI app, then once through
the local cloud's gateway over plain unsigned HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from werkzeug.test import Client

from helpers.localcloud.emulators.sample_api import DATASETS, PREFIX, SampleApi


@pytest.fixture
def api() -> Client:
    return Client(SampleApi())


def test_the_index_names_each_dataset_with_its_size_and_fields(api):
    answer = api.get(PREFIX)
    assert answer.status_code == 200 and answer.content_type == "application/json"
    assert answer.json == {"datasets": [
        {"name": "weather", "records": 28, "fields": ["date", "city", "temp_c", "rain_mm"]},
        {"name": "orders", "records": 45, "fields": ["order_id", "customer", "product", "quantity", "unit_price",
                                                     "status"]},
        {"name": "users", "records": 12, "fields": ["id", "name", "email", "signup"]}]}


def test_pages_slice_the_dataset_and_a_page_past_the_end_is_empty(api):
    first = api.get(f"{PREFIX}orders").json
    assert {k: first[k] for k in ("dataset", "page", "per_page", "pages", "total")} == {
        "dataset": "orders", "page": 1, "per_page": 10, "pages": 5, "total": 45}
    assert [r["order_id"] for r in first["records"]] == list(range(1000, 1010))
    last = api.get(f"{PREFIX}orders?page=5").json
    assert [r["order_id"] for r in last["records"]] == list(range(1040, 1045))
    assert api.get(f"{PREFIX}orders?page=6").json["records"] == []
    pages = [api.get(f"{PREFIX}weather?page={n}&per_page=8").json for n in (1, 2, 3, 4)]
    assert pages[0]["pages"] == 4 and [len(p["records"]) for p in pages] == [8, 8, 8, 4]
    assert [r for p in pages for r in p["records"]] == DATASETS["weather"]


def test_the_records_are_the_same_in_every_run(api):
    assert api.get(f"{PREFIX}weather?per_page=2").json["records"] == [
        {"date": "2026-01-01", "city": "Seattle", "temp_c": -1.0, "rain_mm": 0.0},
        {"date": "2026-01-01", "city": "Dublin", "temp_c": 7.0, "rain_mm": 10.5}]
    assert api.get(f"{PREFIX}users/?page=2&per_page=11").json["records"] == [
        {"id": 12, "name": "Lea", "email": "lea@example.com", "signup": "2025-12-15"}]
    orders = DATASETS["orders"]
    # pinned: a change to the data changes what notebook 09 shows
    assert round(sum(o["quantity"] * o["unit_price"] for o in orders), 2) == 5438.89
    assert len({o["order_id"] for o in orders}) == 45


@pytest.mark.parametrize(("path", "status", "error"), [
    ("nope", 404, "No dataset 'nope'"),
    ("orders?page=0", 400, "page must be 1 or more"),
    ("orders?page=two", 400, "page must be an integer, not 'two'"),
    ("orders?per_page=101", 400, "per_page must be between 1 and 100"),
])
def test_refusals_are_json_with_the_reason(api, path, status, error):
    answer = api.get(PREFIX + path)
    assert (answer.status_code, answer.content_type, answer.json["error"]) == (status, "application/json", error)
    if status == 404:
        assert answer.json["datasets"] == ["weather", "orders", "users"]


def test_only_get_is_served(api):
    answer = api.post(f"{PREFIX}orders", data=b"{}")
    assert (answer.status_code, answer.headers["Allow"]) == (405, "GET")


def test_served_unsigned_on_the_gateway(module_cloud):
    from helpers import localcloud

    base = localcloud.endpoint("aws") + PREFIX
    with urllib.request.urlopen(f"{base}users?per_page=5&page=3", timeout=10) as answer:
        assert answer.status == 200
        body = json.loads(answer.read())
    assert [u["name"] for u in body["records"]] == ["Kai", "Lea"] and body["pages"] == 3
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}missing", timeout=10)
    assert refused.value.code == 404
    assert json.loads(refused.value.read())["error"] == "No dataset 'missing'"
