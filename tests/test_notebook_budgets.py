"""Every notebook has a time budget and unit tests named in tests/notebook_budgets.toml, and lanes cover each once."""

from __future__ import annotations

from helpers.paths import REPO_ROOT
from helpers.testkit import budgets, lanes
from helpers.tooling.notebooks import workbook_notebooks


def test_every_notebook_has_a_budget_and_existing_unit_tests():
    limits = budgets.load()
    assert set(limits) == set(workbook_notebooks()), "add the notebook to tests/notebook_budgets.toml"
    for budget in limits.values():
        assert 0 < budget.seconds <= 600
        missing = [t for t in budget.unit_tests if not (REPO_ROOT / t).exists()]
        assert not missing, f"{budget.notebook}: no {missing}"


def test_lanes_cover_each_notebook_once_and_balance_by_budget():
    names = [n for n in workbook_notebooks() if n != budgets.CLEAN_UP]
    for count in (1, 2, 3):
        plan = lanes.plan(names, count)
        assert sorted(n for lane in plan for n in lane) == sorted(names) and len(plan) == min(count, len(names))
    limits = budgets.load()
    loads = [sum(limits[n].seconds for n in lane) for lane in lanes.plan(names, 2, measured={})]
    assert max(loads) - min(loads) <= max(limits[n].seconds for n in names)


def test_lanes_balance_by_measured_times_where_there_are_some(tmp_path):
    """Budgets are limits: the lanes are planned on measured times (make bench), budgets only fill the gaps."""
    bench = tmp_path / "lanes.json"
    bench.write_text('{"lanes_1": {"notebooks": {"a#1": 100, "a#2": 90, "b#1": 20, "b#2": 10, "99_clean_up#lane1": 9}}}')
    measured = lanes.measured_seconds(bench)
    assert measured == {"a": 190, "b": 30}
    assert lanes.measured_seconds(tmp_path / "missing.json") == {}
    # c has no measurement: its budget per execution (60 s when it has none either) stands in
    assert lanes.plan(["a", "b", "c"], 2, measured) == [["a"], ["b", "c"]]
    assert lanes.plan(["a", "b", "c"], 2, {"a": 50, "b": 40, "c": 45}) == [["a"], ["b", "c"]]
    assert lanes.plan(["a", "b", "c"], 2, {"a": 10, "b": 40, "c": 45}) == [["c"], ["a", "b"]]


def test_lane_count_follows_the_override(monkeypatch):
    monkeypatch.setenv("WORKBOOK_TEST_LANES", "3")
    assert lanes.default_lanes(6) == 3
    monkeypatch.delenv("WORKBOOK_TEST_LANES")
    assert 1 <= lanes.default_lanes(6) <= 6


def test_a_notebook_marked_rerun_false_runs_once_except_when_tested_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBOOK_TEST_NOTEBOOKS", raising=False)
    limits = budgets.load()
    once = [n for n, b in limits.items() if not b.rerun]
    assert once and "01_create_environment" not in once, "01's second run reuses the workshop environment: keep it"
    assert budgets.executions(once[0]) == (1,) and budgets.executions("01_create_environment") == (1, 2)
    bench = tmp_path / "lanes.json"
    bench.write_text(f'{{"lanes_1": {{"notebooks": {{"{once[0]}#1": 100, "{once[0]}#2": 90}}}}}}')
    assert lanes.measured_seconds(bench) == {once[0]: 100}  # the lanes are planned on what make test runs
    monkeypatch.setenv("WORKBOOK_TEST_NOTEBOOKS", once[0])
    assert budgets.executions(once[0]) == (1, 2)
