"""CloudTrail's log files as Athena's CloudTrail tables read them, written as JSON lines for the JSON reader.

A table is read this way when its SerDe is `com.amazon.emr.hive.serde.CloudTrailSerde` (older docs) or its
InputFormat is `com.amazon.emr.cloudtrail.CloudTrailInputFormat` (Athena's current DDL, with the Hive JSON SerDe).
CloudTrail delivers `<name>.json.gz` files, each one object `{"Records": [{event}, ...]}`; every record is a row.
`to_json_lines` turns one file into one JSON object a line, shaped to the table's columns as the SerDe reads them:
- keys match columns and struct fields without regard to case, at every level (CloudTrail writes `userIdentity`,
  `sessionIssuer`, `ARN`; the catalog says `useridentity`, `sessionissuer`, `arn`);
- a `string` column holding an object or array gets that value's JSON text with its original keys (what the SerDe
  returns for `requestparameters`), a bool gets `true`/`false`, a number its JSON text;
- a field a record lacks is NULL, and so is an object or array where the column wants a scalar (lenient: Hive would
  fail the row).
A file that is not CloudTrail JSON fails the query with HIVE_CURSOR_ERROR naming the file (the wording is the
emulator's).
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass

from helpers.localcloud.emulators.athena.sql import QueryFailed

SERDE = "com.amazon.emr.hive.serde.cloudtrailserde"
INPUT_FORMAT = "com.amazon.emr.cloudtrail.cloudtrailinputformat"
_STRINGS = ("string", "varchar", "char")


def is_cloudtrail(serde_library: str, input_format: str) -> bool:
    return serde_library.lower() == SERDE or input_format.lower() == INPUT_FORMAT


@dataclass(frozen=True)
class HiveType:
    kind: str  # lower-cased: string, bigint, struct, array, map, ...
    fields: tuple[tuple[str, HiveType], ...] = ()  # struct
    element: HiveType | None = None  # array's element, map's value


_WORD = re.compile(r"\s*([A-Za-z_]\w*)\s*")
_FIELD = re.compile(r"\s*(?:`([^`]+)`|([A-Za-z_]\w*))\s*")


def _expect(text: str, i: int, char: str) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text) or text[i] != char:
        raise ValueError(f"expected '{char}' at {i} in {text!r}")
    return i + 1


def _parse(text: str, i: int) -> tuple[HiveType, int]:
    match = _WORD.match(text, i)
    if not match:
        raise ValueError(f"expected a type at {i} in {text!r}")
    kind, i = match.group(1).lower(), match.end()
    if kind == "array":
        element, i = _parse(text, _expect(text, i, "<"))
        return HiveType(kind, element=element), _expect(text, i, ">")
    if kind == "map":
        _, i = _parse(text, _expect(text, i, "<"))
        value, i = _parse(text, _expect(text, i, ","))
        return HiveType(kind, element=value), _expect(text, i, ">")
    if kind == "struct":
        i = _expect(text, i, "<")
        fields = []
        while True:
            name = _FIELD.match(text, i)
            if not name:
                raise ValueError(f"expected a field name at {i} in {text!r}")
            field_type, i = _parse(text, _expect(text, name.end(), ":"))
            fields.append((name.group(1) or name.group(2), field_type))
            rest = text[i:].lstrip()
            i = len(text) - len(rest) + 1
            if rest[:1] == ">":
                return HiveType(kind, fields=tuple(fields)), i
            if rest[:1] != ",":
                raise ValueError(f"expected ',' or '>' at {i - 1} in {text!r}")
    if text[i:i + 1] == "(":  # decimal(10,2), varchar(20)
        i = text.index(")", i) + 1
    return HiveType(kind), i


def parse_type(text: str) -> HiveType:
    """A Hive column type such as `struct<arn:string,tags:array<string>>`."""
    parsed, end = _parse(text, 0)
    if text[end:].strip():
        raise ValueError(f"unexpected {text[end:]!r} in {text!r}")
    return parsed


def _by_lower_key(record: dict) -> dict:
    lowered: dict = {}
    for key, value in record.items():
        lowered.setdefault(str(key).lower(), value)  # of keys differing only in case, the first one counts
    return lowered


def _shape(value, kind: HiveType):
    if value is None:
        return None
    if kind.kind == "struct":
        if not isinstance(value, dict):
            return None
        given = _by_lower_key(value)
        return {name: _shape(given.get(name.lower()), field_type) for name, field_type in kind.fields}
    if kind.kind == "array":
        return [_shape(v, kind.element) for v in value] if isinstance(value, list) else None
    if kind.kind == "map":
        return {str(k): _shape(v, kind.element) for k, v in value.items()} if isinstance(value, dict) else None
    if kind.kind in _STRINGS:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return None if isinstance(value, dict | list) else value


def records(data: bytes, path: str) -> list[dict]:
    """The records of one CloudTrail log file (gzipped or not); `path` names it in the error."""
    def failed(detail: str) -> QueryFailed:
        return QueryFailed("HIVE_CURSOR_ERROR", f"Error reading CloudTrail log file {path}: {detail} "
                                                "(emulated Athena)")

    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise failed(f"not a valid gzip file ({exc})") from None
    try:
        document = json.loads(data)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
        raise failed(f"not a JSON document ({exc})") from None
    found = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
        raise failed('expected one JSON object {"Records": [ {event}, ... ]}')
    return found


def to_json_lines(data: bytes, columns: list[tuple[str, str]], path: str) -> bytes:
    """One JSON object a line per record of the file, with exactly the table's `columns` (name, Hive type) as keys
    (b"" when the file holds no records)."""
    try:
        types = [(name, parse_type(kind)) for name, kind in columns]
    except ValueError as exc:
        raise QueryFailed("NOT_SUPPORTED", f"Unsupported Hive type: {exc}") from None
    lines = []
    for record in records(data, path):
        given = _by_lower_key(record)
        lines.append(json.dumps({name: _shape(given.get(name.lower()), kind) for name, kind in types}))
    return "".join(line + "\n" for line in lines).encode()
