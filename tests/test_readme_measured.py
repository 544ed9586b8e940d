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
