"""A small public-style JSON API on the gateway, for the assets producer of notebook 09 ("fetches data from an HTTP
API"): on AWS the learner names any public API; locally, with no internet, the producer fetches from here.

Unsigned plain HTTP under the gateway's path prefix `/_workbook/sample-api/`:

- `GET /_workbook/sample-api/`: `{"datasets": [{"name", "records", "fields"}, ...]}`.
- `GET /_workbook/sample-api/<dataset>?page=1&per_page=10`: one page,
  `{"dataset", "page", "per_page", "pages", "total", "records": [...]}`. A page past the last has no records (as
  most paginated APIs answer), so a client stops on an empty page or at `pages`.
- An unknown dataset is a 404 `{"error": ..., "datasets": [...]}`, which a producer turns into a failed run (the
  failing producer that must trigger no consumer). A bad `page`/`per_page` is a 400, another method a 405.

The records are computed, not random and not stored: the same request answers the same bytes in every run, so a
notebook's checkpoint can compute what the producer must have written.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

PREFIX = "/_workbook/sample-api/"
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100

_CITIES = ("Seattle", "Dublin", "Tokyo", "Sydney")
_PRODUCTS = ("kayak", "tent", "lantern", "stove", "backpack")
_STATUSES = ("shipped", "delivered", "pending", "returned")


def _weather() -> list[dict]:
    start = date(2026, 1, 1)
    return [{"date": (start + timedelta(days=day)).isoformat(), "city": city,
             "temp_c": round(4 + 3 * n + (day * 7 + n * 5) % 11 - 5 + 0.5 * (day % 2), 1),
             "rain_mm": round(((day * 13 + n * 7) % 9) * 1.5, 1)}
            for day in range(7) for n, city in enumerate(_CITIES)]


def _orders() -> list[dict]:
    return [{"order_id": 1000 + n, "customer": f"C{(n * 7) % 13:03d}", "product": _PRODUCTS[(n * 3) % len(_PRODUCTS)],
             "quantity": 1 + (n * 5) % 4, "unit_price": round(19.99 + 10 * ((n * 11) % 7), 2),
             "status": _STATUSES[(n * 2 + n // 5) % len(_STATUSES)]}
            for n in range(45)]


def _users() -> list[dict]:
    first = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea")
    return [{"id": n + 1, "name": name, "email": f"{name.lower()}@example.com", "signup": f"2025-{n % 12 + 1:02d}-15"}
            for n, name in enumerate(first)]


DATASETS = {"weather": _weather(), "orders": _orders(), "users": _users()}


class BadQuery(Exception):
    """Answered as 400."""


def _positive(query: dict[str, list[str]], name: str, default: int, most: int | None = None) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        value = int(values[0])
    except ValueError:
        raise BadQuery(f"{name} must be an integer, not {values[0]!r}") from None
    if value < 1 or (most is not None and value > most):
        raise BadQuery(f"{name} must be between 1 and {most}" if most else f"{name} must be 1 or more")
    return value


def page_of(dataset: str, page: int = 1, per_page: int = DEFAULT_PER_PAGE) -> dict:
    """One page of a dataset, as the API answers it (KeyError for an unknown dataset)."""
    records = DATASETS[dataset]
    pages = -(-len(records) // per_page)
    return {"dataset": dataset, "page": page, "per_page": per_page, "pages": pages, "total": len(records),
            "records": records[(page - 1) * per_page: page * per_page]}


def index() -> dict:
    return {"datasets": [{"name": name, "records": len(records), "fields": list(records[0])}
                         for name, records in DATASETS.items()]}


class SampleApi:
    """The WSGI app the gateway routes `/_workbook/sample-api/` to."""

    def __call__(self, environ, start_response):
        from urllib.parse import parse_qs

        status, payload = self.answer(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""),
                                      parse_qs(environ.get("QUERY_STRING", "")))
        body = json.dumps(payload).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if status.startswith("405"):
            headers.append(("Allow", "GET"))
        start_response(status, headers)
        return [body]

    @staticmethod
    def answer(method: str, path: str, query: dict[str, list[str]]) -> tuple[str, dict]:
        if method != "GET":
            return "405 Method Not Allowed", {"error": f"{method} is not allowed: this API is read-only (GET)"}
        name = path[len(PREFIX):].strip("/")
        if not name:
            return "200 OK", index()
        if name not in DATASETS:
            return "404 Not Found", {"error": f"No dataset {name!r}", "datasets": list(DATASETS)}
        try:
            page = _positive(query, "page", 1)
            per_page = _positive(query, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
        except BadQuery as error:
            return "400 Bad Request", {"error": str(error)}
        return "200 OK", page_of(name, page, per_page)
