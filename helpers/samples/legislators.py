"""A generated stand-in for the AWS Glue sample dataset us-legislators (persons, memberships, organizations).

Same shape as s3://awsglue-datasets/examples/us-legislators/all/: one JSON object per line, persons with
nested identifiers and contact details, memberships linking persons to organizations over time, organizations
that are parties or chambers. Deterministic (seeded), so the committed files can be checked against it:

    python -m helpers.samples.legislators   # rewrites sample_data/legislators/*.json
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from helpers.paths import SAMPLE_DATA_DIR

FOLDER = SAMPLE_DATA_DIR / "legislators"
GIVEN = ["Ada", "Benjamin", "Clara", "David", "Elena", "Frank", "Grace", "Henry", "Irene", "James", "Karen", "Louis",
         "Maria", "Nathan", "Olivia", "Peter", "Quinn", "Rosa", "Samuel", "Teresa"]
FAMILY = ["Adams", "Baker", "Carter", "Diaz", "Evans", "Foster", "Garcia", "Hughes", "Ibarra", "Jensen", "Keller", "Lopez",
          "Moore", "Nguyen", "Ortiz", "Parker", "Quincy", "Reyes", "Stone", "Turner"]
STATES = ["ca", "ny", "tx", "fl", "wa", "il", "oh", "ga", "pa", "mi"]
PARTIES = [("party/democrat", "Democrat"), ("party/republican", "Republican"), ("party/independent", "Independent")]
CHAMBERS = [("d56acebe-8fdc-47bd-8b53-20cca31e2c8a", "House"), ("8fa6c3d2-71dc-478e-9e7f-0e0ab1b6c5a3", "Senate")]


def generate(persons: int = 120, seed: int = 2026) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    organizations = [{"id": oid, "name": name, "classification": "party", "image": None} for oid, name in PARTIES]
    organizations += [{"id": oid, "name": name, "classification": "legislature", "seats": 435 if name == "House" else 100}
                      for oid, name in CHAMBERS]
    people, memberships = [], []
    for n in range(persons):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        pid = f"{rng.getrandbits(32):08x}-{n:04d}-4{rng.getrandbits(12):03x}-8{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}"
        people.append({
            "id": pid, "name": f"{given} {family}", "given_name": given, "family_name": family,
            "gender": rng.choice(["female", "male"]),
            "birth_date": f"{rng.randint(1940, 1985)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "identifiers": [{"scheme": "bioguide", "identifier": f"{family[0]}{rng.randint(100000, 999999)}"}],
            "contact_details": [{"type": "twitter", "value": f"{given}{family}".lower()}] if rng.random() < 0.6 else [],
        })
        party = rng.choice(PARTIES)[0]
        chamber = rng.choice(CHAMBERS)[0]
        state = rng.choice(STATES)
        start = rng.randint(1995, 2019)
        for term in range(rng.randint(1, 3)):
            period = start + 2 * term
            memberships.append({
                "person_id": pid, "organization_id": chamber, "on_behalf_of_id": party, "area_id": f"ocd-division/country:us/state:{state}",
                "legislative_period_id": f"term/{period}", "role": "member", "start_date": f"{period}-01-03",
                "end_date": f"{period + 2}-01-03" if term or rng.random() < 0.8 else None,
            })
    return {"persons": people, "memberships": memberships, "organizations": organizations}


def as_json_lines(rows: list[dict]) -> str:
    return "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)


def write(folder: Path = FOLDER) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in generate().items():
        path = folder / f"{name}.json"
        path.write_text(as_json_lines(rows))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(path.relative_to(SAMPLE_DATA_DIR.parent))
