from __future__ import annotations

import json

from helpers.samples import legislators


def test_committed_files_are_what_the_generator_makes():
    for name, rows in legislators.generate().items():
        assert (legislators.FOLDER / f"{name}.json").read_text() == legislators.as_json_lines(rows), f"regenerate {name}"


def test_relations_hold():
    data = legislators.generate()
    people = {p["id"] for p in data["persons"]}
    orgs = {o["id"] for o in data["organizations"]}
    assert len(people) == len(data["persons"]) == 120
    for membership in data["memberships"]:
        assert membership["person_id"] in people
        assert membership["organization_id"] in orgs and membership["on_behalf_of_id"] in orgs
    assert {o["classification"] for o in data["organizations"]} == {"party", "legislature"}
    assert any(m["end_date"] is None for m in data["memberships"])  # sitting members, as in the real data
    assert json.loads((legislators.FOLDER / "persons.json").read_text().splitlines()[0])["identifiers"]
