"""CloudWatch Logs Insights queries over moto's stored log events: StartQuery and GetQueryResults answered by
`logs_insights` (emulated; moto's own evaluator ignores `filter` and `stats`).

StartQuery checks the syntax at once, as the service does (MalformedQueryException with a `queryCompileError`), and
stores the query; the first GetQueryResults evaluates it over the events then in the log groups and the time range,
and later calls return the same answer (a finished query does not change), with status `Complete` and statistics.
DescribeQueries keeps moto's answer shape.
"""

from __future__ import annotations

import base64
import json

from helpers.localcloud.emulators import logs_insights


class InsightsQuery:
    """What moto's LogQuery offers to DescribeQueries, plus a lazily computed Logs Insights answer."""

    def __init__(self, query_id: str, query: str, parsed, log_groups: list, start: int, end: int,
                 limit: int | None):
        from moto.core.utils import utcnow

        self.query_id, self.query, self.parsed = query_id, query, parsed
        self.log_groups, self.log_group_names = log_groups, [g.name for g in log_groups]
        self.start_time, self.end_time, self.limit = start, end, limit
        self.create_time = utcnow()
        self.status = "Complete"
        self._result: logs_insights.Result | None = None

    def to_json(self, log_group_name: str) -> dict:
        from moto.core.utils import unix_time_millis

        return {"queryId": self.query_id, "queryString": self.query, "status": self.status,
                "createTime": int(unix_time_millis(self.create_time)), "logGroupName": log_group_name}

    def to_result_json(self) -> dict:
        if self._result is None:
            self._result = logs_insights.run(self.parsed, list(_events(self.log_groups)), self.limit,
                                             self.start_time, self.end_time)
        return {"results": self._result.rows, "statistics": self._result.statistics(), "status": self.status}


def _events(log_groups: list):
    for group in log_groups:
        for stream in group.streams.values():
            for event in stream.events:
                # An opaque pointer, as the service's @ptr is; it names the event so it stays unique across groups.
                ptr = base64.urlsafe_b64encode(f"{group.name}\n{stream.log_stream_name}\n{event.event_id}".encode())
                yield logs_insights.Event(event.timestamp, event.message, stream.log_stream_name, group.name,
                                          group.account_id, event.ingestion_time, ptr.decode())


def _malformed_exception():
    from moto.logs.exceptions import LogsClientError

    class MalformedQueryException(LogsClientError):
        def __init__(self, error: logs_insights.MalformedQuery):
            super().__init__("MalformedQueryException", error.message)
            location = {"startCharOffset": error.start, "endCharOffset": error.end}
            self.description = json.dumps({"__type": "MalformedQueryException", "message": error.message,
                                           "queryCompileError": {"location": location, "message": error.message}})

    return MalformedQueryException


def apply() -> None:
    """Answer moto's StartQuery and GetQueryResults with the Logs Insights evaluator (gateway process only)."""
    from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException
    from moto.logs.responses import LogsResponse
    from moto.moto_api._internal import mock_random

    if getattr(LogsResponse, "_workbook_insights", False):
        return
    malformed = _malformed_exception()

    def start_query(self) -> str:
        names = self._get_param("logGroupNames") or []
        identifiers = self._get_param("logGroupIdentifiers") or []
        if self._get_param("logGroupName"):
            if names or identifiers:
                raise InvalidParameterException()
            names = [self._get_param("logGroupName")]
        # An identifier is a group's name or its ARN (`arn:...:log-group:NAME`, maybe ending in `:*`).
        names = names + [i.split(":log-group:", 1)[1].removesuffix(":*") if ":log-group:" in i else i
                         for i in identifiers]
        if not names:
            raise InvalidParameterException("Log group names or identifiers are required.")
        query = self._get_param("queryString")
        try:
            parsed = logs_insights.parse(query)
        except logs_insights.MalformedQuery as exc:
            raise malformed(exc) from None
        backend = self.logs_backend
        for name in names:
            if name not in backend.groups:
                raise ResourceNotFoundException(f"Log group '{name}' does not exist for account ID "
                                                f"'{self.current_account}'")
        query_id = str(mock_random.uuid4())
        backend.queries[query_id] = InsightsQuery(
            query_id, query, parsed, [backend.groups[n] for n in names], self._get_int_param("startTime"),
            self._get_int_param("endTime"), self._get_int_param("limit"))
        return json.dumps({"queryId": query_id})

    def get_query_results(self) -> str:
        query = self.logs_backend.queries.get(self._get_param("queryId"))
        if query is None:
            raise ResourceNotFoundException("Query does not exist.")
        return json.dumps(query.to_result_json())

    LogsResponse.start_query = start_query
    LogsResponse.get_query_results = get_query_results
    LogsResponse._workbook_insights = True
