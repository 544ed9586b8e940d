"""The README's measured table is generated from measurements/: a hand-typed or stale figure fails here."""

from __future__ import annotations

from helpers.testkit import measured


def test_readme_table_is_what_the_measurements_give():
    assert measured.main(["check"]) == 0, "run `python -m helpers.testkit.measured record` (or `make bench`)"


def test_a_hand_edited_figure_is_caught(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    text = measured.rendered(measured.README.read_text())
    table = text.split(measured.START, 1)[1].split(measured.END, 1)[0]
    readme.write_text(text.replace(table, table.replace("|", "| 42 s", 1)))
    monkeypatch.setattr(measured, "README", readme)
    assert measured.main(["check"]) == 1


def test_recorded_local_mwaa_figures_are_within_their_budgets():
    bench = measured._load("benchmark.json")
    if bench is None:
        return  # nothing recorded yet: the README says so
    assert bench["create_to_available_s"] <= 30, "CreateEnvironment -> AVAILABLE over its 30 s budget"
    assert bench["dag_upload_to_listed_s"] <= 5
    assert bench["idle_memory_pss_mb"] <= 1500 and bench["idle_cpu_percent_of_core"] <= 15


def test_every_notebook_alone_was_within_its_budget():
    """The chapters' budgets hold for a notebook run alone: make bench's one-lane run, recorded in measurements/."""
    from helpers.testkit import budgets

    lanes = measured._load("lanes.json")
    if lanes is None:
        return  # nothing recorded yet: the README says so
    alone = lanes["lanes_1"]["notebooks"]
    over = {name: seconds for name, seconds in alone.items() if seconds > budgets.load()[name.split("#")[0]].seconds}
    assert not over, f"over budget when run alone (make bench, commit {lanes['commit']}): {over}"
