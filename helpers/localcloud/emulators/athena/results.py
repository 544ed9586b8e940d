"""A finished query's answer as Athena gives it: values as Trino prints them, the result CSV (every value quoted,
NULL an empty unquoted field), ColumnInfo with Athena's type names, and GetQueryResults' pages (header row first)."""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal

MAX_RESULTS = 1000  # GetQueryResults' largest page

# DuckDB type (its first word) -> Athena's name in ColumnInfo, with the Precision and Scale Athena reports.
_TYPES = {
    "VARCHAR": ("varchar", 2147483647, 0), "BOOLEAN": ("boolean", 0, 0), "TINYINT": ("tinyint", 3, 0),
    "SMALLINT": ("smallint", 5, 0), "INTEGER": ("integer", 10, 0), "BIGINT": ("bigint", 19, 0),
    "HUGEINT": ("bigint", 19, 0), "UTINYINT": ("smallint", 5, 0), "USMALLINT": ("integer", 10, 0),
    "UINTEGER": ("bigint", 19, 0), "UBIGINT": ("bigint", 19, 0), "FLOAT": ("float", 17, 0),
    "DOUBLE": ("double", 17, 0), "DATE": ("date", 0, 0), "TIMESTAMP": ("timestamp", 3, 3),
    "TIMESTAMP_NS": ("timestamp", 3, 3), "TIMESTAMP_MS": ("timestamp", 3, 3), "TIMESTAMP_S": ("timestamp", 3, 3),
    "TIMESTAMP WITH TIME ZONE": ("timestamp with time zone", 3, 3), "TIME": ("time", 3, 3),
    "BLOB": ("varbinary", 1073741824, 0), "UUID": ("uuid", 0, 0), "INTERVAL": ("interval day to second", 0, 0),
    "JSON": ("json", 0, 0),
}


def athena_type(duckdb_type: str) -> tuple[str, int, int]:
    """(Athena type name, Precision, Scale) of a DuckDB result type such as `DECIMAL(18,3)` or `INTEGER[]`."""
    text = duckdb_type.strip().upper()
    if text.endswith("]"):
        return "array", 0, 0
    if text.startswith("STRUCT"):
        return "row", 0, 0
    if text.startswith("MAP"):
        return "map", 0, 0
    if match := re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", text):
        return "decimal", int(match.group(1)), int(match.group(2))
    return _TYPES.get(text, ("varchar", 2147483647, 0))


def _java_double(value: float) -> str:
    # Trino prints doubles as Java's Double.toString does: scientific outside [1e-3, 1e7).
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{exponent + len(text) - 1}"


def format_value(value) -> str | None:
    """How Athena prints a value in GetQueryResults and the result CSV; None is NULL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        text = f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond // 1000:03d}"
        return f"{text} UTC" if value.tzinfo is not None else text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return " ".join(f"{b:02x}" for b in value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_nested(v)}" for k, v in value.items()) + "}"
    return str(value)


def _nested(value) -> str:
    text = format_value(value)
    return "null" if text is None else text


@dataclass
class ResultSet:
    names: list[str]
    types: list[str]  # DuckDB's
    rows: list[tuple]

    def column_info(self) -> list[dict]:
        info = []
        for name, duckdb_type in zip(self.names, self.types, strict=True):
            kind, precision, scale = athena_type(duckdb_type)
            info.append({"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name,
                         "Type": kind, "Precision": precision, "Scale": scale, "Nullable": "UNKNOWN",
                         "CaseSensitive": kind == "varchar"})
        return info

    def text_rows(self) -> list[list[str | None]]:
        return [[format_value(v) for v in row] for row in self.rows]

    def csv(self) -> bytes:
        def line(values) -> str:
            return ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values) + "\n"

        return (line(self.names) + "".join(line(row) for row in self.text_rows())).encode()

    def page(self, next_token: str | None, max_results: int | None) -> dict:
        """One GetQueryResults page: the header row is the first row of the first page, as Athena sends it."""
        size = min(max_results or MAX_RESULTS, MAX_RESULTS)
        start = decode_token(next_token) if next_token else 0
        everything = [self.names, *self.text_rows()]
        rows = [{"Data": [{} if v is None else {"VarCharValue": v} for v in values]}
                for values in everything[start:start + size]]
        answer = {"UpdateCount": 0, "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": self.column_info()}}}
        if start + size < len(everything):
            answer["NextToken"] = encode_token(start + size)
        return answer


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"workbook-athena:{offset}".encode()).decode()


def decode_token(token: str) -> int:
    try:
        prefix, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix == "workbook-athena" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise ValueError("Invalid NextToken")
