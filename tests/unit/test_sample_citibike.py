from __future__ import annotations

import csv
import io
import re
import zipfile

from helpers.samples import citibike


def _members(data: bytes) -> list[tuple[str, tuple, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, info.date_time, archive.read(info)) for info in archive.infolist()]


def test_committed_zips_are_what_the_generator_makes():
    # Members, not raw bytes: deflate output may differ between zlib builds, the content may not.
    for month, rows in citibike.generate().items():
        committed = (citibike.FOLDER / citibike.zip_name(month)).read_bytes()
        assert _members(committed) == _members(citibike.zip_bytes(month, rows)), f"regenerate {month}"
    assert sorted(p.name for p in citibike.FOLDER.iterdir()) == ["202401-citibike-tripdata.csv.zip", "202402-citibike-tripdata.csv.zip"]
    assert sum(p.stat().st_size for p in citibike.FOLDER.iterdir()) < 200_000


def test_the_real_files_quirks_are_there():
    data = (citibike.FOLDER / citibike.zip_name("202401")).read_bytes()
    names = [name for name, _, _ in _members(data)]
    assert names == ["202401-citibike-tripdata_1.csv", "__MACOSX/._202401-citibike-tripdata_1.csv",
                     "202401-citibike-tripdata_2.csv", "__MACOSX/._202401-citibike-tripdata_2.csv"]
    rows = []
    for name, _, content in _members(data):
        if not name.startswith("__MACOSX"):
            reader = csv.DictReader(io.StringIO(content.decode()))
            assert reader.fieldnames == citibike.COLUMNS
            rows += list(reader)
    assert len(rows) == citibike.ROWS_PER_MONTH
    assert all(re.fullmatch(r"2024-01-\d\d \d\d:\d\d:\d\d\.\d{3}", r["started_at"]) for r in rows)
    assert all(re.fullmatch(r"\d{4}\.\d{2}", r["start_station_id"]) for r in rows)
    assert any(r["start_station_id"].endswith("0") for r in rows)  # 6948.10: text, not a number
    assert any(r["end_station_name"] == "" for r in rows)


def test_one_station_is_clearly_the_busiest_start():
    counts: dict[str, int] = {}
    for rows in citibike.generate().values():
        for row in rows:
            counts[row[4]] = counts.get(row[4], 0) + 1
    first, second = sorted(counts.values(), reverse=True)[:2]
    assert max(counts, key=counts.get) == "W 21 St & 6 Ave" and first > 1.5 * second
