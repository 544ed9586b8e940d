"""A Glue Data Catalog table as DuckDB reads it: the files Athena would scan and the SELECT that reads them.

The format comes from the table's SerDe and InputFormat: JSON lines (OpenX or Hive JSON SerDe), CloudTrail log files
(CloudTrail SerDe or InputFormat: `cloudtrail.py` turns each file into JSON lines when the run copies it), delimited text
(LazySimpleSerDe: `field.delim`, no quoting, `\\N` is NULL, a value that does not parse is NULL, as in Hive),
OpenCSVSerde (quoted fields) and Parquet (columns matched by name; a column the file lacks is NULL).
`skip.header.line.count` skips header lines. A partitioned table reads the partitions registered in the catalog,
each from its own location, with the partition values as columns (as Athena does: an unregistered `key=value`
prefix is not read until the partition is added, e.g. by MSCK REPAIR TABLE). Files whose names start with `_` or `.` are skipped, as Athena
skips them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from sqlglot import exp

from helpers.localcloud.emulators.athena import cloudtrail
from helpers.localcloud.emulators.athena.sql import QueryFailed, TableRef

HIVE_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


@dataclass
class Part:
    """Files under one location, with the partition values they carry."""

    location: str
    values: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # local paths


@dataclass
class TableLayout:
    columns: list[tuple[str, str]]  # (name, Hive type)
    partition_keys: list[tuple[str, str]]
    reader: str  # json | cloudtrail | text | opencsv | parquet
    options: dict
    parts: list[Part]


def duckdb_type(hive_type: str) -> str:
    try:
        return exp.DataType.build(hive_type, dialect="hive").sql(dialect="duckdb")
    except Exception:  # a type sqlglot cannot read: Athena would fail the same query at planning
        raise QueryFailed("NOT_SUPPORTED", f"Unsupported Hive type: {hive_type}") from None


def _reader(table: dict, ref: TableRef) -> tuple[str, dict]:
    storage = table.get("StorageDescriptor") or {}
    serde = storage.get("SerdeInfo") or {}
    library = (serde.get("SerializationLibrary") or "").lower()
    input_format = (storage.get("InputFormat") or "").lower()
    parameters = {**(table.get("Parameters") or {}), **(storage.get("Parameters") or {}),
                  **(serde.get("Parameters") or {})}
    classification = (parameters.get("classification") or "").lower()
    skip = int(parameters.get("skip.header.line.count", "0") or 0)
    if table.get("TableType") == "VIRTUAL_VIEW":
        raise QueryFailed("NOT_SUPPORTED", f"{ref.where()}: the workbook's local Athena does not read views "
                                           f"('{ref.qualified}')")
    if cloudtrail.is_cloudtrail(library, input_format):
        return "cloudtrail", {}
    if "parquet" in library or "parquet" in input_format or classification == "parquet":
        return "parquet", {}
    if "orc" in library or "avro" in library or classification in ("orc", "avro"):
        raise QueryFailed("NOT_SUPPORTED", f"{ref.where()}: the workbook's local Athena reads JSON, CSV/text and "
                                           f"Parquet tables; '{ref.qualified}' is {classification or library}")
    if "json" in library or classification == "json":
        return "json", {}
    if "opencsv" in library:
        return "opencsv", {"delim": parameters.get("separatorChar", ","), "quote": parameters.get("quoteChar", '"'),
                           "escape": parameters.get("escapeChar", "\\"), "skip": skip}
    delim = parameters.get("field.delim") or parameters.get("serialization.format") or "\x01"
    if delim.isdigit():  # Hive reads a number as the byte's code: the default "1" is ^A
        delim = chr(int(delim))
    return "text", {"delim": delim, "skip": skip}


def layout(table: dict, ref: TableRef, partitions: list[dict]) -> TableLayout:
    """What to read for `table` (GetTable's Table) and its registered `partitions` (GetPartitions' Partitions)."""
    storage = table.get("StorageDescriptor") or {}
    columns = [(c["Name"].lower(), c.get("Type") or "string") for c in storage.get("Columns") or []]
    keys = [(c["Name"].lower(), c.get("Type") or "string") for c in table.get("PartitionKeys") or []]
    reader, options = _reader(table, ref)
    if reader == "cloudtrail":
        # Hive's struct field names are lower-cased as its column names are (a row prints {username=...}).
        columns = [(name, kind.lower()) for name, kind in columns]
    if keys:
        parts = [Part((p.get("StorageDescriptor") or {}).get("Location") or "", list(p.get("Values") or []))
                 for p in partitions]
    else:
        parts = [Part(storage.get("Location") or "")]
    return TableLayout(columns, keys, reader, options, [p for p in parts if p.location])


def readable(key: str) -> bool:
    name = PurePosixPath(key).name
    return bool(name) and not key.endswith("/") and not name.startswith(("_", "."))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def file_list(part: Part) -> str:
    return "[" + ", ".join(_literal(f) for f in part.files) + "]"


def _part_select(layout: TableLayout, part: Part, present_columns: set[str] | None) -> str:
    typed = [(name, duckdb_type(kind)) for name, kind in layout.columns]
    # The names the files use, matched to the catalog's lower-cased ones without regard to case, as the SerDes do.
    present = {c.lower(): c for c in present_columns or set()}
    if layout.reader in ("json", "cloudtrail"):
        keys = [(present.get(n, n), t) for n, t in typed]
        spec = "{" + ", ".join(f"{_literal(k)}: {_literal(t)}" for k, t in keys) + "}"
        source = f"read_json({file_list(part)}, format='newline_delimited', columns={spec})"
        values = [_quote(k) for k, _ in keys]
    elif layout.reader == "parquet":
        source = f"read_parquet({file_list(part)}, union_by_name=true)"
        values = [f"CAST({_quote(present[n])} AS {t})" if n in present else f"CAST(NULL AS {t})" for n, t in typed]
    else:
        options = layout.options
        quote = options.get("quote", "") if layout.reader == "opencsv" else ""
        escape = options.get("escape", "") if layout.reader == "opencsv" else ""
        spec = "{" + ", ".join(f"{_literal(f'c{i}')}: 'VARCHAR'" for i in range(len(typed))) + "}"
        source = (f"read_csv({file_list(part)}, delim={_literal(options['delim'])}, quote={_literal(quote)}, "
                  f"escape={_literal(escape)}, header=false, skip={int(options.get('skip', 0))}, columns={spec}, "
                  "auto_detect=false, null_padding=true, strict_mode=false)")
        # Hive's text SerDes give NULL for `\N` and for a value that does not parse as the column's type.
        values = [f"TRY_CAST(NULLIF(c{i}, '\\N') AS {t})" if t not in ("TEXT", "VARCHAR")
                  else f"NULLIF(c{i}, '\\N')" for i, (_, t) in enumerate(typed)]
    keys = [f"CAST({'NULL' if v == HIVE_NULL_PARTITION else _literal(v)} AS {duckdb_type(kind)})"
            for (_, kind), v in zip(layout.partition_keys, part.values, strict=False)]
    names = [n for n, _ in layout.columns] + [n for n, _ in layout.partition_keys]
    selected = ", ".join(f"{v} AS {_quote(n)}" for v, n in zip(values + keys, names, strict=True))
    return f"SELECT {selected} FROM {source}"


def present_columns_sql(layout: TableLayout, part: Part) -> str | None:
    """A query for the column (Parquet) or key (JSON) names the part's files hold, one a row; None for text and
    CloudTrail (its converted files have the catalog's names)."""
    if layout.reader == "parquet":
        return f"SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet({file_list(part)}, union_by_name=true))"
    if layout.reader == "json":
        return (f"SELECT DISTINCT unnest(json_keys(json)) FROM read_json_objects({file_list(part)}, "
                "format='newline_delimited') WHERE json_type(json) = 'OBJECT'")
    return None


def view_sql(layout: TableLayout, present_columns: dict[int, set[str]] | None = None) -> str:
    """The SELECT a view of the table runs: the union of its parts' files (no rows when there are none).
    `present_columns` holds, per part number, what `present_columns_sql` found."""
    selects = [_part_select(layout, part, (present_columns or {}).get(i))
               for i, part in enumerate(layout.parts) if part.files]
    if selects:
        return "\nUNION ALL\n".join(selects)
    columns = layout.columns + layout.partition_keys
    return "SELECT " + ", ".join(f"CAST(NULL AS {duckdb_type(t)}) AS {_quote(n)}" for n, t in columns) + " WHERE false"
