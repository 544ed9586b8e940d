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
    loads = [sum(limits[n].seconds for n in lane) for lane in lanes.plan(names, 2)]
    assert max(loads) - min(loads) <= max(limits[n].seconds for n in names)


def test_lane_count_follows_the_override(monkeypatch):
    monkeypatch.setenv("WORKBOOK_TEST_LANES", "3")
    assert lanes.default_lanes(6) == 3
    monkeypatch.delenv("WORKBOOK_TEST_LANES")
    assert 1 <= lanes.default_lanes(6) <= 6
