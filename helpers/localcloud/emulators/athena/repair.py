"""`MSCK REPAIR TABLE`: register the Hive-style `key=value/` prefixes under a partitioned table's location that the
catalog does not know yet, as Athena does (only prefixes naming the table's partition keys in order count)."""

from __future__ import annotations

import re
from urllib.parse import unquote

from helpers.localcloud.emulators.athena.sql import TableRef

_MSCK = re.compile(r"\s*MSCK\s+REPAIR\s+TABLE\s+(?:[`\"]?(\w+)[`\"]?\.)?[`\"]?(\w+)[`\"]?\s*;?\s*", re.I)


def target(query: str, database: str | None) -> TableRef | None:
    """The table an MSCK REPAIR TABLE statement names, or None for any other statement."""
    match = _MSCK.fullmatch(query)
    if not match:
        return None
    return TableRef((match.group(1) or database or "default").lower(), match.group(2).lower(), 1, 19)


def missing_partitions(location: str, keys: list[str], object_keys: list[str],
                       known: set[tuple[str, ...]]) -> list[tuple[tuple[str, ...], str]]:
    """(values, location) of each partition found under `location` (s3://bucket/prefix/) and not in `known`."""
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    found: dict[tuple[str, ...], str] = {}
    for key in object_keys:
        if not key.startswith(prefix):
            continue
        segments = key[len(prefix):].split("/")[:-1]  # the folders the object is in
        if len(segments) < len(keys):
            continue
        pairs = [segment.partition("=") for segment in segments[:len(keys)]]
        if [name.lower() for name, eq, _ in pairs] != keys or not all(eq for _, eq, _ in pairs):
            continue
        values = tuple(unquote(value) for _, _, value in pairs)
        found.setdefault(values, f"s3://{bucket}/{prefix}{'/'.join(segments[:len(keys)])}/")
    return [(values, path) for values, path in sorted(found.items()) if values not in known]
