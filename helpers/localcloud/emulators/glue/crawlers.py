"""What a Glue crawler infers from data in S3: tables, their columns and their partitions (emulated).

moto accepts StartCrawler and reports the crawl done, but creates no tables. This module does what the
crawler does, for the formats the workbook uses (JSON lines, CSV with a header, Parquet), with Glue's rules
as documented and observed:

- Each folder under an S3 target path is a table, named after the folder; folders below it named `key=value`
  are partitions (other folder names become partition_0, partition_1, ...).
- Files directly in a folder whose schemas differ (fewer than 70 % of their columns shared) become one table
  each, named after the file (`persons.json` -> `persons_json`), located at the file, as for the AWS sample
  us-legislators dataset.
- Types are Hive types: bigint, double, boolean, string, array<...>, struct<...>; mixed types widen
  (bigint + double -> double, anything else -> string).
- Table names are lower case, with characters other than letters, digits and _ replaced by _, and the
  crawler's TablePrefix in front.

The functions here are pure (no AWS calls) so they can be tested directly; `crawl` applies a plan through
the Glue and S3 APIs of the local cloud.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

SAMPLE_RECORDS = 1000
SAMPLE_BYTES = 1 << 20
SAME_SCHEMA = 0.7

FORMATS = {
    "json": {"InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
             "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
             "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"}},
    "csv": {"InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                          "Parameters": {"field.delim": ","}}},
    "parquet": {"InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}},
}


# --- types -------------------------------------------------------------------------------------------------

def infer_type(value) -> str | None:
    """The Hive type of one JSON value; None for null (it tells nothing)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, list):
        element = None
        for item in value:
            element = widen(element, infer_type(item))
        return f"array<{element or ''}>"  # element type unknown until a non-empty list is seen
    if isinstance(value, dict):
        return struct_type(schema_of([value]))
    return "string"


def widen(a: str | None, b: str | None) -> str | None:
    """The type that holds values of both types."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    if {a, b} == {"bigint", "double"}:
        return "double"
    if a.startswith("array<") and b.startswith("array<"):
        return f"array<{widen(a[6:-1] or None, b[6:-1] or None) or ''}>"
    if a.startswith("struct<") and b.startswith("struct<"):
        merged = dict(split_struct(a))
        for name, kind in split_struct(b):
            merged[name] = widen(merged.get(name), kind)
        return struct_type(merged)
    return "string"


def final(kind: str | None) -> str:
    """The type written to the catalog: what is still unknown (only nulls, only empty lists) is a string."""
    return (kind or "string").replace("<>", "<string>")


def struct_type(columns: dict[str, str | None]) -> str:
    return "struct<" + ",".join(f"{name}:{kind or 'string'}" for name, kind in columns.items()) + ">"


def split_struct(kind: str) -> list[tuple[str, str]]:
    """`struct<a:bigint,b:array<struct<c:string>>>` -> [("a", "bigint"), ("b", "array<struct<c:string>>")]."""
    fields, depth, start, inner = [], 0, 0, kind[len("struct<"):-1]
    for pos, char in enumerate(inner + ","):
        if char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        elif char == "," and depth == 0:
            name, _, field_type = inner[start:pos].partition(":")
            fields.append((name, field_type))
            start = pos + 1
    return fields


def schema_of(records) -> dict[str, str | None]:
    """Columns in first-seen order, each with the widest type seen."""
    columns: dict[str, str | None] = {}
    for record in records:
        for name, value in record.items():
            columns[name] = widen(columns.get(name), infer_type(value))
    return columns


def _scalar(text: str) -> str | None:
    if text == "":
        return None
    if re.fullmatch(r"[+-]?\d{1,18}", text):
        return "bigint"
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", text):
        return "double"
    if text.lower() in ("true", "false"):
        return "boolean"
    return "string"


# --- reading samples -----------------------------------------------------------------------------------------

def classify(key: str, head: bytes) -> str | None:
    """The crawler's classification of a file, from its content (the extension only breaks ties)."""
    if head[:4] == b"PAR1":
        return "parquet"
    text = head.decode("utf-8", errors="replace").lstrip()
    if text.startswith("{"):
        return "json"
    if key.lower().endswith((".csv", ".txt")) or ("," in text.split("\n", 1)[0]):
        return "csv"
    return None


def sample_schema(classification: str, body: bytes) -> tuple[dict[str, str | None], int]:
    """(columns, records seen) of a file's sample."""
    if classification == "parquet":
        import pyarrow.parquet as pq

        # the footer is enough, and reading row data with pyarrow's thread pool crashed the gateway process
        parquet = pq.ParquetFile(io.BytesIO(body))
        return {f.name: _arrow_type(f.type) for f in parquet.schema_arrow}, parquet.metadata.num_rows
    text = body.decode("utf-8", errors="replace")
    if classification == "json":
        records = [json.loads(line) for line in text.splitlines()[:SAMPLE_RECORDS] if line.strip()]
        return schema_of(records), len(records)
    rows = list(csv.reader(io.StringIO(text)))[: SAMPLE_RECORDS + 1]
    header, data = rows[0], rows[1:]
    columns = {name.strip().lower(): None for name in header}
    for row in data:
        for name, value in zip(columns, row, strict=False):
            columns[name] = widen(columns[name], _scalar(value))
    return columns, len(data)


def _arrow_type(arrow) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(arrow):
        return "boolean"
    if pa.types.is_integer(arrow):
        return "bigint" if arrow.bit_width > 32 else "int"
    if pa.types.is_floating(arrow):
        return "double"
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    if pa.types.is_date(arrow):
        return "date"
    if pa.types.is_list(arrow):
        return f"array<{_arrow_type(arrow.value_type)}>"
    if pa.types.is_struct(arrow):
        return struct_type({arrow.field(i).name: _arrow_type(arrow.field(i).type) for i in range(arrow.num_fields)})
    return "string"


# --- planning tables ---------------------------------------------------------------------------------------

@dataclass
class TablePlan:
    name: str
    location: str
    classification: str
    columns: dict[str, str | None]
    partition_keys: list[str] = field(default_factory=list)
    partitions: dict[tuple[str, ...], str] = field(default_factory=dict)  # values -> location
    records: int = 0
    files: int = 0

    def table_input(self, crawler: str) -> dict:
        storage = {**FORMATS[self.classification], "Location": self.location,
                   "Columns": [{"Name": n, "Type": final(t)} for n, t in self.columns.items()],
                   "Parameters": {"classification": self.classification}}
        if self.classification == "json":
            storage["SerdeInfo"] = {**storage["SerdeInfo"], "Parameters": {"paths": ",".join(self.columns)}}
        if self.classification == "csv":
            storage["Parameters"]["skip.header.line.count"] = "1"
        return {"Name": self.name, "TableType": "EXTERNAL_TABLE", "StorageDescriptor": storage,
                "PartitionKeys": [{"Name": k, "Type": "string"} for k in self.partition_keys],
                "Parameters": {"classification": self.classification, "UPDATED_BY_CRAWLER": crawler,
                               "CrawlerSchemaSerializerVersion": "1.0", "recordCount": str(self.records),
                               "objectCount": str(self.files), "typeOfData": "file", "compressionType": "none"}}


def table_name(raw: str, prefix: str = "") -> str:
    return re.sub(r"[^a-z0-9_]", "_", f"{prefix}{raw}".lower())


def _similar(a: dict, b: dict) -> bool:
    shared = len(set(a) & set(b))
    return shared >= SAME_SCHEMA * max(len(a), len(b), 1)


def plan_tables(target: str, files: dict[str, tuple[str, dict, int]], prefix: str = "") -> list[TablePlan]:
    """Tables for one S3 target path. `files` maps each object's URL under the target to (classification,
    columns, records)."""
    root = target.rstrip("/") + "/"
    by_folder: dict[str, dict[str, tuple]] = {}
    for url, sample in sorted(files.items()):
        parts = url[len(root):].split("/")
        by_folder.setdefault(parts[0] if len(parts) > 1 else "", {})[url] = (parts[1:-1] if len(parts) > 1 else [], sample)
    plans: list[TablePlan] = []
    for folder, members in by_folder.items():
        schemas = [sample[1] for _, sample in members.values()]
        if folder and all(_similar(schemas[0], s) for s in schemas):
            plans.append(_merged(table_name(folder, prefix), f"{root}{folder}/", members))
        elif not folder and len(members) > 1 and all(_similar(schemas[0], s) for s in schemas):
            plans.append(_merged(table_name(PurePosixPath(root).name, prefix), root, members))
        else:
            for url, (_, sample) in members.items():
                plans.append(_merged(table_name(PurePosixPath(url).name.replace(".", "_"), prefix), url, {url: ([], sample)}))
    return plans


def _merged(name: str, location: str, members: dict[str, tuple]) -> TablePlan:
    classifications = {sample[0] for _, sample in members.values()}
    columns: dict[str, str | None] = {}
    plan = TablePlan(name, location, sorted(classifications)[0], columns)
    depth = max(len(folders) for folders, _ in members.values())
    plan.partition_keys = [f"partition_{i}" for i in range(depth)]
    for url, (folders, (_, cols, records)) in members.items():
        for name_, kind in cols.items():
            columns[name_] = widen(columns.get(name_), kind)
        plan.records += records
        plan.files += 1
        if folders:
            for i, folder in enumerate(folders):
                if "=" in folder:
                    plan.partition_keys[i] = folder.split("=", 1)[0]
            values = tuple(f.split("=", 1)[-1] for f in folders)
            plan.partitions[values] = url.rsplit("/", 1)[0] + "/"
    for key in plan.partition_keys:
        columns.pop(key, None)  # a partition key is not also a data column
    return plan
