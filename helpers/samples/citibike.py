"""A generated stand-in for the Citi Bike trip data (s3://tripdata), small enough to commit.

Same shape as the real monthly files since 2021: `YYYYMM-citibike-tripdata.csv.zip`, each holding the month in
several CSV parts (`YYYYMM-citibike-tripdata_1.csv`, `_2.csv`, ...) plus the `__MACOSX/` entries a Mac's zip
tool adds, in the 13-column schema, with millisecond timestamps, decimal station ids such as `6140.05`, and
rides that ended away from a station (empty end station). Station popularity is skewed, so "top stations" has
a clear answer. Deterministic (seeded, fixed zip timestamps), so the committed files can be checked:

    python -m helpers.samples.citibike   # rewrites sample_data/citibike/*.zip
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from helpers.paths import SAMPLE_DATA_DIR

FOLDER = SAMPLE_DATA_DIR / "citibike"
MONTHS = ("202401", "202402")
ROWS_PER_MONTH = 1500
ROWS_PER_PART = 800  # the real files split a month every 1,000,000 rows
COLUMNS = ["ride_id", "rideable_type", "started_at", "ended_at", "start_station_name", "start_station_id", "end_station_name",
           "end_station_id", "start_lat", "start_lng", "end_lat", "end_lng", "member_casual"]
# (name, id, lat, lng, weight as a start, weight as an end): a few busy stations, a long tail.
STATIONS = [
    ("W 21 St & 6 Ave", "6140.05", 40.74173969, -73.99415556, 40, 22),
    ("West St & Chambers St", "5329.03", 40.71754834, -74.01322069, 24, 34),
    ("Broadway & W 58 St", "6948.10", 40.76695317, -73.98169333, 18, 17),
    ("1 Ave & E 68 St", "6822.09", 40.76500525, -73.95818491, 14, 13),
    ("Pier 61 at Chelsea Piers", "6233.04", 40.74486, -74.00866, 12, 14),
    ("University Pl & E 14 St", "5905.14", 40.73492695, -73.99200509, 10, 10),
    ("11 Ave & W 41 St", "6822.10", 40.76030096, -73.99884222, 9, 8),
    ("8 Ave & W 31 St", "6450.05", 40.7505853, -73.9946848, 8, 9),
    ("Lafayette St & E 8 St", "5788.12", 40.73020660529954, -73.99102628231049, 7, 7),
    ("E 33 St & 1 Ave", "6197.02", 40.74315566, -73.97434726, 6, 6),
    ("Central Park S & 6 Ave", "6876.04", 40.76590936, -73.97634151, 6, 5),
    ("Cleveland Pl & Spring St", "5492.05", 40.722103786686034, -73.99724900722504, 5, 5),
    ("Hudson St & Reade St", "5359.11", 40.71625008, -74.0091059, 5, 5),
    ("E 17 St & Broadway", "6069.02", 40.73704984, -73.99009296, 5, 4),
    ("Grand Army Plaza & Central Park S", "6839.10", 40.7643971, -73.97371465, 4, 5),
    ("Christopher St & Greenwich St", "5847.06", 40.73291553, -74.00711384, 4, 4),
    ("Washington St & Gansevoort St", "6039.06", 40.739323, -74.008119, 4, 4),
    ("Allen St & Rivington St", "5414.06", 40.72019576, -73.98997825, 3, 3),
    ("Carmine St & 6 Ave", "5763.03", 40.73038599, -74.00214988, 3, 3),
    ("Kent Ave & N 7 St", "5489.03", 40.72036775298455, -73.96165072917938, 3, 3),
    ("Pershing Square North", "6224.05", 40.751873, -73.977706, 3, 3),
    ("Vesey Pl & River Terrace", "5297.02", 40.7153379, -74.01658447, 2, 3),
    ("N 6 St & Bedford Ave", "5379.10", 40.71745169, -73.95850939, 2, 2),
    ("Clinton St & Joralemon St", "4605.04", 40.692395, -73.993379, 2, 2),
]
NO_END_STATION = 0.03  # share of rides that ended away from a dock (end station empty)


def _rides(month: str, rows: int, rng: random.Random) -> list[list]:
    start_of_month = datetime(int(month[:4]), int(month[4:]), 1)
    days = ((start_of_month + timedelta(days=32)).replace(day=1) - start_of_month).days
    starts, ends = [s[4] for s in STATIONS], [s[5] for s in STATIONS]
    rides = []
    for _ in range(rows):
        start = rng.choices(STATIONS, weights=starts)[0]
        end = rng.choices(STATIONS, weights=ends)[0]
        electric = rng.random() < 0.55
        started = start_of_month + timedelta(seconds=rng.randrange(days * 86400), milliseconds=rng.randrange(1000))
        ended = started + timedelta(seconds=rng.randint(120, 2700), milliseconds=rng.randrange(1000))
        if rng.random() < NO_END_STATION:
            # Real files: an e-bike left away from a dock keeps a rough position; a lost bike has none.
            end_row = ["", "", round(end[2], 2), round(end[3], 2)] if electric else ["", "", "", ""]
        else:
            end_row = [end[0], end[1], end[2], end[3]]
        rides.append([f"{rng.getrandbits(64):016X}", "electric_bike" if electric else "classic_bike",
                      started.isoformat(sep=" ", timespec="milliseconds"), ended.isoformat(sep=" ", timespec="milliseconds"),
                      start[0], start[1], end_row[0], end_row[1], start[2], start[3], end_row[2], end_row[3],
                      "member" if rng.random() < 0.8 else "casual"])
    rides.sort(key=lambda ride: ride[2])
    return rides


def generate(seed: int = 2024) -> dict[str, list[list]]:
    """Rides per month, as CSV rows in COLUMNS order."""
    rng = random.Random(seed)
    return {month: _rides(month, ROWS_PER_MONTH, rng) for month in MONTHS}


def csv_text(rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")  # text quoted, numbers bare, as in the real files
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue()


def zip_name(month: str) -> str:
    return f"{month}-citibike-tripdata.csv.zip"


def _apple_double(name: str) -> bytes:
    """What a Mac's zip tool stores in __MACOSX/._<name>: resource-fork metadata, not CSV."""
    return b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02" + name.encode()[:32].ljust(32, b"\x00")


def zip_bytes(month: str, rows: list[list]) -> bytes:
    """The month's zip: CSV parts, each followed by its __MACOSX twin; fixed timestamps, so the bytes repeat."""
    stamp = (int(month[:4]), int(month[4:]), 1, 0, 0, 0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, first in enumerate(range(0, len(rows), ROWS_PER_PART), start=1):
            name = f"{month}-citibike-tripdata_{part}.csv"
            for member, data in ((name, csv_text(rows[first:first + ROWS_PER_PART]).encode()),
                                 (f"__MACOSX/._{name}", _apple_double(name))):
                info = zipfile.ZipInfo(member, date_time=stamp)
                info.compress_type, info.create_system, info.external_attr = zipfile.ZIP_DEFLATED, 3, 0o644 << 16
                archive.writestr(info, data)
    return buffer.getvalue()


def write(folder: Path = FOLDER) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for month, rows in generate().items():
        path = folder / zip_name(month)
        path.write_bytes(zip_bytes(month, rows))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(path.relative_to(SAMPLE_DATA_DIR.parent), f"{path.stat().st_size / 1024:.0f} KB")
