"""One Athena query run in a thread: its state (`Run`), the catalog tables it reads copied out of moto's Glue and S3
(in-process) and defined as DuckDB views, the statement run by DuckDB, and the result CSV written to S3."""

from __future__ import annotations

import functools
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from helpers.localcloud.emulators.athena import results

if TYPE_CHECKING:
    from helpers.localcloud.emulators.athena import sql, tables

STATE: dict = {}  # work_dir: where runs copy the files they read
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass
class Run:
    """What the emulator knows of one execution, beside moto's Execution (which keeps query, context, config)."""

    state: str = "QUEUED"
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    completed: float | None = None
    reason: str | None = None
    error_type: int = 1000  # Athena's "User error"; 100 is its internal service error
    scanned: int = 0
    result: results.ResultSet | None = None
    connection: object = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def finish(self, state: str, reason: str | None = None) -> bool:
        with self.lock:
            if self.state in FINAL:
                return False  # stopped meanwhile: a cancellation stands
            self.state, self.reason, self.completed = state, reason, time.time()
            return True


# --- reading the catalog's data out of moto -----------------------------------------------------------------------

def _glue_table(account: str, region: str, ref: sql.TableRef) -> tuple[dict, list[dict]]:
    from moto.glue.models import glue_backends

    from helpers.localcloud.emulators.athena import sql  # sqlglot: on a query, not at gateway start

    glue = glue_backends[account][region]
    database = next((d for name, d in list(glue.databases.items()) if name.lower() == ref.database), None)
    if database is None:
        raise sql.QueryFailed("SCHEMA_NOT_FOUND", f"{ref.where()}: Schema '{ref.database}' does not exist")
    table = next((t for name, t in list(database.tables.items()) if name.lower() == ref.name), None)
    if table is None:
        raise sql.QueryFailed("TABLE_NOT_FOUND", f"{ref.where()}: Table '{ref.qualified}' does not exist")
    return table.as_dict(), [p.as_dict() for p in list(table.partitions.values())]


def _copy_objects(account: str, part: tables.Part, folder: Path,
                  convert: Callable[..., bytes] | None = None) -> int:
    """Copy the readable objects under the part's location into `folder`, each through `convert(body, path=s3_path)` when
    given; returns the bytes scanned (as stored in S3)."""
    from moto.s3.models import FakeKey, s3_backends

    from helpers.localcloud.emulators.athena import sql, tables  # sqlglot: on a query, not at gateway start

    bucket_name, _, prefix = part.location.removeprefix("s3://").removeprefix("s3a://").partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    try:
        bucket = s3_backends[account]["aws"].get_bucket(bucket_name)
    except Exception:
        raise sql.QueryFailed("HIVE_FILESYSTEM_ERROR", f"The specified bucket does not exist ({part.location})") from None
    folder.mkdir(parents=True, exist_ok=True)
    copied = 0
    for name in sorted(k for k in list(bucket.keys.keys()) if k.startswith(prefix) and tables.readable(k)):
        key = bucket.keys.get(name)
        if not isinstance(key, FakeKey) or not key.size:
            continue  # a delete marker, or an empty object (no rows)
        target = folder / f"{len(part.files):05d}_{Path(name).name}"
        body = key.value
        copied += key.size
        if convert is not None:
            body = convert(body, path=f"s3://{bucket_name}/{name}")
            if not body:
                continue  # no records: DuckDB would fail on an empty file of declared columns
            target = target.with_suffix(".jsonl")  # not `.gz`: DuckDB would decompress by the file's extension
        target.write_bytes(body)
        part.files.append(str(target))
    return copied


def _repair(account: str, region: str, ref: sql.TableRef) -> list[str]:
    """MSCK REPAIR TABLE: add the table's unregistered `key=value/` partitions; returns Athena's lines for them."""
    from moto.glue.models import glue_backends
    from moto.s3.models import s3_backends

    from helpers.localcloud.emulators.athena import repair, sql  # sqlglot: on a query, not at gateway start

    table, partitions = _glue_table(account, region, ref)
    storage = table.get("StorageDescriptor") or {}
    keys = [k["Name"].lower() for k in table.get("PartitionKeys") or []]
    if not keys:
        raise sql.QueryFailed("NOT_SUPPORTED", f"Table {ref.name} is not partitioned")
    bucket = (storage.get("Location") or "").removeprefix("s3://").partition("/")[0]
    try:
        names = list(s3_backends[account]["aws"].get_bucket(bucket).keys.keys())
    except Exception:
        raise sql.QueryFailed("HIVE_FILESYSTEM_ERROR", f"The specified bucket does not exist ({bucket})") from None
    known = {tuple(p.get("Values") or []) for p in partitions}
    glue = glue_backends[account][region]
    lines = []
    for values, location in repair.missing_partitions(storage.get("Location") or "", keys, names, known):
        glue.create_partition(table["DatabaseName"], table["Name"],
                              {"Values": list(values), "StorageDescriptor": {**storage, "Location": location}})
        spec = "/".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
        lines.append(f"Repair: Added partition to metastore {ref.name}:{spec}")
    return lines


def _write_output(account: str, location: str, body: bytes) -> None:
    from moto.s3.models import s3_backends

    from helpers.localcloud.emulators.athena import sql  # sqlglot: on a query, not at gateway start

    bucket, _, key = location.removeprefix("s3://").partition("/")
    backend = s3_backends[account]["aws"]
    try:
        backend.get_bucket(bucket)
    except Exception:
        raise sql.QueryFailed("", f"Unable to verify/create output bucket {bucket}") from None
    backend.put_object(bucket_name=bucket, key_name=key, value=body)


# --- running a query --------------------------------------------------------------------------------------------

def _define_tables(account: str, region: str, connection, refs: list[sql.TableRef], scratch: Path, run: Run) -> None:
    """Copy each table's files and define it as a DuckDB view named `"database"."table"`."""
    from helpers.localcloud.emulators.athena import cloudtrail, tables  # sqlglot: on a query, not at gateway start
    schemas = set()
    for index, ref in enumerate(refs):
        table, partitions = _glue_table(account, region, ref)
        plan = tables.layout(table, ref, partitions)
        convert = functools.partial(cloudtrail.to_json_lines, columns=plan.columns) if plan.reader == "cloudtrail" else None
        for number, part in enumerate(plan.parts):
            run.scanned += _copy_objects(account, part, scratch / f"{index}" / f"{number}", convert)
        present = {}
        for number, part in enumerate(plan.parts):
            if part.files and (query := tables.present_columns_sql(plan, part)):
                present[number] = {row[0] for row in connection.sql(query).fetchall()}
        if ref.database not in schemas:
            connection.execute(f'CREATE SCHEMA "{ref.database}"')
            schemas.add(ref.database)
        connection.execute(f'CREATE VIEW "{ref.database}"."{ref.name}" AS {tables.view_sql(plan, present)}')


def run_query(account: str, region: str, execution, run: Run) -> None:
    import duckdb

    from helpers.localcloud.emulators.athena import repair, sql  # sqlglot: on a query, not at gateway start

    with run.lock:
        if run.state != "QUEUED":
            return
        run.state, run.started = "RUNNING", time.time()
    scratch = Path(STATE["work_dir"]) / execution.id
    try:
        context = execution.context or {}
        # Athena takes the context's database quoted too: awswrangler's repair_table sends it as `db`.
        database = (context.get("Database") or "").strip("`\"") or None
        if (target := repair.target(execution.query, database)) is not None:
            lines = _repair(account, region, target)
            run.result = results.ResultSet(["result"], ["VARCHAR"], [(line,) for line in lines])
            run.finish("SUCCEEDED")
            return
        translated = sql.translate(execution.query, database, execution.execution_parameters)
        # Trino divides integers as integers (7 / 2 = 3); DuckDB's `/` would give 3.5.
        connection = duckdb.connect(":memory:", config={"threads": 1, "integer_division": True})
        with run.lock:
            if run.state == "CANCELLED":
                connection.close()
                return
            run.connection = connection  # from now on StopQueryExecution interrupts it
        try:
            _define_tables(account, region, connection, translated.tables, scratch, run)
        except duckdb.Error as exc:  # a file that its table's format cannot read
            raise sql.QueryFailed("HIVE_BAD_DATA", f"{str(exc).splitlines()[0]} (emulated by DuckDB)") from None
        try:
            relation = connection.sql(translated.sql)
            if run.state == "CANCELLED":  # stopped while the tables were being defined: an interrupt came too early
                return
            answer = results.ResultSet(list(relation.columns), [str(t) for t in relation.types], relation.fetchall())
        except duckdb.Error as exc:
            raise sql.engine_error(str(exc), translated) from None
        location = execution.config.get("OutputLocation") if execution.config else None
        if run.state == "CANCELLED":
            return
        if location:
            _write_output(account, location, answer.csv())
        run.result = answer
        run.finish("SUCCEEDED")
    except sql.QueryFailed as failed:
        run.finish("FAILED", failed.reason if failed.code else failed.message)
    except Exception as exc:  # a fault of the emulator: FAILED, said so, rather than a query stuck RUNNING
        run.error_type = 100
        run.finish("FAILED", f"GENERIC_INTERNAL_ERROR: {type(exc).__name__}: {exc} (emulated Athena)")
    finally:
        connection, run.connection = run.connection, None
        if connection is not None:
            connection.close()
        shutil.rmtree(scratch, ignore_errors=True)
