"""The local Logs Insights: queries over a fixed set of events with hand-computed answers, and one round trip
through boto3 and the local cloud."""

from __future__ import annotations

import time

import pytest

from helpers.localcloud.emulators.logs_insights import Event, MalformedQuery, format_timestamp, parse, run

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC, in ms
ACCOUNT = "123456789012"

# One DAG run (run_A) leaves lines in the Airflow task logs, a Glue job and an EMR step; run_B is another run.
EVENTS = [
    Event(T0, "INFO dag1.extract run_A started", "dag1/extract/run_A", "airflow", ptr="e0"),
    Event(T0 + 10_000, "ERROR dag1.extract run_A failed duration=120", "dag1/extract/run_A", "airflow", ptr="e1"),
    Event(T0 + 20_000, "INFO dag1.load run_B started duration=30", "dag1/load/run_B", "airflow", ptr="e2"),
    Event(T0 + 5_000, "run_A glue job step=1 duration=40", "jr_1", "glue", ptr="e3"),
    Event(T0 + 400_000, '{"level":"WARN","run":"run_A","job":{"name":"etl","ms":250}}', "jr_1", "glue",
          ingestion_time=T0 + 401_500, ptr="e4"),
    Event(T0 + 15_000, "run_A emr step done duration=60", "s-1", "emr", ptr="e5"),
    Event(T0 + 700_000, "run_B emr step done duration=90", "s-2", "emr", ptr="e6"),
]
DURATION = r"parse @message /duration=(?<d>\d+)/"


def rows(query: str, events=EVENTS, **kwargs) -> list[dict]:
    return [{f["field"]: f["value"] for f in row} for row in run(query, events, **kwargs).rows]


def ptrs(query: str, **kwargs) -> list[str]:
    return [row["@ptr"] for row in rows(query, **kwargs)]


def test_without_fields_rows_carry_timestamp_message_and_ptr_newest_first():
    result = run("filter @message like /run_B/", EVENTS)
    assert result.rows == [
        [{"field": "@timestamp", "value": "2026-01-01 00:11:40.000"},
         {"field": "@message", "value": "run_B emr step done duration=90"}, {"field": "@ptr", "value": "e6"}],
        [{"field": "@timestamp", "value": "2026-01-01 00:00:20.000"},
         {"field": "@message", "value": "INFO dag1.load run_B started duration=30"}, {"field": "@ptr", "value": "e2"}]]


def test_one_correlation_id_returns_the_airflow_glue_and_emr_lines_in_time_order():
    found = rows("fields @timestamp, @log, @logStream | filter @message like /run_A/ | sort @timestamp asc")
    assert [(r["@log"], r["@ptr"]) for r in found] == [
        (f"{ACCOUNT}:airflow", "e0"), (f"{ACCOUNT}:glue", "e3"), (f"{ACCOUNT}:airflow", "e1"),
        (f"{ACCOUNT}:emr", "e5"), (f"{ACCOUNT}:glue", "e4")]
    assert list(found[0]) == ["@timestamp", "@log", "@logStream", "@ptr"]
    assert found[0]["@logStream"] == "dag1/extract/run_A"


def test_a_task_level_substring_narrows_to_the_task():
    assert ptrs('filter @message like "dag1.extract run_A"') == ["e1", "e0"]


def test_stats_count_by_log_group():
    found = rows("filter @message like /run_A/ | stats count(*) by @log")
    assert sorted((r["@log"], r["count(*)"]) for r in found) == [
        (f"{ACCOUNT}:airflow", "2"), (f"{ACCOUNT}:emr", "1"), (f"{ACCOUNT}:glue", "2")]
    assert all("@ptr" not in r for r in found)  # stats rows are not events


def test_parse_with_a_glob_pattern_trailing_wildcard_takes_the_rest():
    found = rows('filter @message like /failed/ | parse @message "* dag1.* * *" as level, task, run, status')
    assert found == [{"@timestamp": "2026-01-01 00:00:10.000", "@message": "ERROR dag1.extract run_A failed duration=120",
                      "level": "ERROR", "task": "extract", "run": "run_A", "status": "failed duration=120", "@ptr": "e1"}]


def test_parse_keeps_events_it_does_not_match_without_the_fields():
    found = rows('parse @message "* dag1.* *" as level, task, rest | stats count(*) as n by task | sort n desc')
    assert found == [{"n": "4"}, {"task": "extract", "n": "2"}, {"task": "load", "n": "1"}]


def test_parse_with_a_regex_then_every_aggregate():
    found = rows(DURATION + " | stats sum(d) as total, avg(d) as mean, min(d), max(d), count(d) as n, count(*) as all")
    assert found == [{"total": "340", "mean": "68", "min(d)": "30", "max(d)": "120", "n": "5", "all": "7"}]


def test_stats_by_two_fields_and_count_distinct():
    found = rows("parse @message /(?<run>run_[AB])/ | stats count(*) as n by @log, run")
    assert sorted((r["@log"].split(":")[1], r["run"], r["n"]) for r in found) == [
        ("airflow", "run_A", "2"), ("airflow", "run_B", "1"), ("emr", "run_A", "1"), ("emr", "run_B", "1"),
        ("glue", "run_A", "2")]
    assert rows("stats count_distinct(@logStream) as streams") == [{"streams": "5"}]


def test_stats_by_five_minute_bins():
    found = rows("stats count(*) as n by bin(5m) | sort bin(5m) asc")
    assert rows("stats count(*) by bin(5m) | sort count(*) desc | display count(*) | limit 1") == [{"count(*)": "5"}]
    assert found == [{"bin(5m)": "2026-01-01 00:00:00.000", "n": "5"}, {"bin(5m)": "2026-01-01 00:05:00.000", "n": "1"},
                     {"bin(5m)": "2026-01-01 00:10:00.000", "n": "1"}]


def test_numeric_comparisons_and_boolean_logic():
    assert ptrs(DURATION + " | filter d >= 60 and d < 120") == ["e6", "e5"]
    assert ptrs(DURATION + " | filter (d = 30 or d = 40) and not @message like /glue/") == ["e2"]
    assert ptrs(DURATION + " | filter d != 120 and d > 50") == ["e6", "e5"]  # events without d are not != 120


def test_in_lists_and_not_in():
    assert ptrs('filter @logStream in ["jr_1", "s-2"]') == ["e6", "e4", "e3"]
    assert ptrs(f'filter @log not in ["{ACCOUNT}:airflow", "{ACCOUNT}:glue"]') == ["e6", "e5"]
    assert ptrs(DURATION + " | filter d in [30, 90]") == ["e6", "e2"]


def test_regex_alternation_with_a_pipe_and_case_insensitive_flag():
    assert ptrs("filter @message like /started|failed/") == ["e2", "e1", "e0"]
    assert ptrs("filter @message like /(?i)EMR STEP/ and @message not like /run_B/") == ["e5"]
    assert ptrs("filter @message =~ /^run_A/") == ["e5", "e3"]


def test_json_messages_have_their_fields_discovered_and_aliases_work():
    found = rows('filter level = "WARN" | fields job.name as job, job.ms, @ingestionTime, @timestamp as t')
    assert found == [{"job": "etl", "job.ms": "250", "@ingestionTime": "2026-01-01 00:06:41.500",
                      "t": "2026-01-01 00:06:40.000", "@ptr": "e4"}]


def test_sort_then_limit_then_display():
    assert rows(DURATION + " | filter ispresent(d) | sort d desc | limit 2 | display @message") == [
        {"@message": "ERROR dag1.extract run_A failed duration=120", "@ptr": "e1"},
        {"@message": "run_B emr step done duration=90", "@ptr": "e6"}]


def test_sort_is_the_services_natural_order_with_missing_values_last():
    events = [Event(T0 + n, f"v={v}", "s", "g", ptr=str(n)) for n, v in enumerate(["a10", "5", "x", "a9", "10", "-"])]
    events.append(Event(T0 + 9, "no value", "s", "g", ptr="9"))
    found = rows('parse @message "v=*" as v | sort v asc', events)
    assert [r.get("v") for r in found] == ["-", "a9", "a10", "x", "5", "10", None]
    found = rows('parse @message "v=*" as v | sort v desc', events)
    assert [r.get("v") for r in found] == ["10", "5", "x", "a10", "a9", "-", None]


def test_time_range_is_inclusive_in_seconds_and_statistics_count_what_was_scanned():
    start = T0 // 1000 + 10
    result = run("fields @message", EVENTS, start=start, end=start + 5)
    assert [row[-1]["value"] for row in result.rows] == ["e5", "e1"]  # 00:00:10 and 00:00:15 both count
    assert result.statistics() == {"recordsMatched": 2.0, "recordsScanned": 2.0, "bytesScanned": float(
        len("ERROR dag1.extract run_A failed duration=120") + len("run_A emr step done duration=60"))}


def test_limits_matched_counts_before_the_limit():
    result = run("filter @message like /run_A/ | limit 1", EVENTS)
    assert len(result.rows) == 1 and result.records_matched == 5 and result.records_scanned == 7
    assert len(run("fields @message", EVENTS, limit=3).rows) == 3  # StartQuery's limit
    assert len(run("fields @message | limit 4", EVENTS, limit=3).rows) == 4  # the query's own limit wins


def test_an_ungrouped_count_over_nothing_is_zero():
    assert rows("filter @message like /nothing/ | stats count(*)") == [{"count(*)": "0"}]


def test_timestamps_print_as_the_service_prints_them():
    assert format_timestamp(T0 + 1_234) == "2026-01-01 00:00:01.234"


@pytest.mark.parametrize("query", [
    "count()",  # not a command
    "fields @message |",  # empty command
    "filter @message like",  # missing pattern
    "filter d == 3",
    "fields toupper(@message)",  # functions are not supported
    "stats pct(d, 50)",
    "dedup @logStream",  # a real command this subset lacks
    'parse @message "* *" as one',  # wildcards and names differ
    "parse @message /no named group/",
    "sort",
    "limit many",
    "filter @message like /unclosed(/",
    "stats count(*) by bin(five)",
])
def test_unsupported_or_malformed_syntax_raises(query):
    with pytest.raises(MalformedQuery):
        parse(query)


def test_a_malformed_query_says_where():
    with pytest.raises(MalformedQuery) as error:
        parse("fields @message | count(*)")
    assert (error.value.start, error.value.end) == (18, 23)
    assert error.value.message.startswith("mismatched input 'count' expecting {K_PARSE")


def test_start_query_and_get_query_results_through_boto3(module_cloud):
    from helpers.aws import cloud

    logs = cloud.client("logs")
    now = int(time.time()) * 1000
    lines = {"tests-insights-airflow": ["dag1.extract run_X started", "dag1.load run_X started", "dag1.load run_X done"],
             "tests-insights-glue": ["glue run_X step=1", "glue run_Y step=1", "glue run_X step=2"],
             "tests-insights-emr": ["emr run_X done"]}
    for offset, (group, messages) in enumerate(lines.items()):
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": now + 10 * offset + n, "message": m} for n, m in enumerate(messages)])
    window = {"logGroupNames": list(lines), "startTime": now // 1000 - 60, "endTime": now // 1000 + 60}

    query_id = logs.start_query(queryString="filter @message like /run_X/ | stats count(*) as n by @log | sort n desc",
                                **window)["queryId"]
    answer = logs.get_query_results(queryId=query_id)
    assert answer["status"] == "Complete"
    account = cloud.client("sts").get_caller_identity()["Account"]
    assert answer["results"] == [
        [{"field": "@log", "value": f"{account}:tests-insights-airflow"}, {"field": "n", "value": "3"}],
        [{"field": "@log", "value": f"{account}:tests-insights-glue"}, {"field": "n", "value": "2"}],
        [{"field": "@log", "value": f"{account}:tests-insights-emr"}, {"field": "n", "value": "1"}]]
    assert answer["statistics"] == {"recordsMatched": 6.0, "recordsScanned": 7.0, "bytesScanned": float(
        sum(len(m) for ms in lines.values() for m in ms))}

    query_id = logs.start_query(queryString="fields @timestamp, @message | filter @message like /run_X/ | "
                                            "sort @timestamp asc | limit 2", **window)["queryId"]
    first = logs.get_query_results(queryId=query_id)["results"][0]
    assert [f["field"] for f in first] == ["@timestamp", "@message", "@ptr"]
    assert first[1]["value"] == "dag1.extract run_X started"

    with pytest.raises(logs.exceptions.MalformedQueryException) as error:
        logs.start_query(queryString="fields @message | count(*)", **window)
    assert error.value.response["queryCompileError"]["location"] == {"startCharOffset": 18, "endCharOffset": 23}
