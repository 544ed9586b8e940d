"""Athena's SQL (Trino's dialect) made runnable by DuckDB, and Athena's words for what goes wrong.

`translate` parses a statement with sqlglot, refuses what the local Athena does not run (CTAS, INSERT, DDL), lists
the catalog tables it reads (with the position Athena's messages quote), names unnamed result columns as Trino does
(`_col0`, ...) and writes DuckDB's SQL. `engine_error` turns a DuckDB error into Athena's `CODE: line L:C: message`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

CATALOG = "awsdatacatalog"


class QueryFailed(Exception):
    """A query that ends FAILED; `reason` is its StateChangeReason."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class TableRef:
    database: str
    name: str
    line: int
    column: int

    @property
    def qualified(self) -> str:
        return f"{CATALOG}.{self.database}.{self.name}"

    def where(self) -> str:
        return f"line {self.line}:{self.column}"


@dataclass
class Translated:
    sql: str
    tables: list[TableRef] = field(default_factory=list)
    functions: dict[str, tuple[int, int]] = field(default_factory=dict)  # lower-cased name -> first position
    columns: dict[str, tuple[int, int]] = field(default_factory=dict)  # likewise, for column references


def _position(query: str, node: exp.Expression) -> tuple[int, int]:
    start = (node.meta or {}).get("start")
    if start is None:
        return 1, 1
    line = query.count("\n", 0, start) + 1
    return line, start - (query.rfind("\n", 0, start) + 1) + 1


def _first_identifier(table: exp.Table) -> exp.Expression:
    # Trino points at the start of the qualified name: the catalog or database part when given.
    for part in (table.args.get("catalog"), table.args.get("db"), table.this):
        if part is not None:
            return part
    return table


def parse(query: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(query, read="athena") if s is not None]
    except sqlglot.errors.ParseError as exc:
        error = exc.errors[0] if exc.errors else {}
        line, col = error.get("line") or 1, error.get("col") or 1
        token = error.get("highlight") or ""
        col = max(1, col - len(token) + 1)  # sqlglot points at the token's end, Trino at its start
        # sqlglot's own wording, without its internals (token and class reprs).
        detail = re.sub(r"<Token[^>]*>", f"'{token}'", error.get("description") or "")
        detail = "" if not detail or "<class" in detail else f" {detail.split(' / ')[0]}"
        raise QueryFailed("SYNTAX_ERROR", f"line {line}:{col}: mismatched input '{token}'.{detail}") from None
    except sqlglot.errors.TokenError as exc:
        raise QueryFailed("SYNTAX_ERROR", f"line 1:1: {exc}") from None
    if not statements:
        raise QueryFailed("SYNTAX_ERROR", "line 1:1: mismatched input '<EOF>'. Expecting: 'SELECT', 'WITH', 'VALUES'")
    if len(statements) > 1:
        raise QueryFailed("SYNTAX_ERROR", "Only one sql statement is allowed.")
    return statements[0]


def _refuse_unsupported(statement: exp.Expression) -> None:
    if isinstance(statement, exp.Query):
        return
    kind = type(statement).__name__.upper()
    if isinstance(statement, exp.Create) and isinstance(statement.expression, exp.Query):
        kind = "CREATE TABLE AS SELECT"
    elif isinstance(statement, exp.Create):
        kind = f"CREATE {statement.kind or ''}".strip()
    elif isinstance(statement, exp.Command):  # what sqlglot does not parse (MSCK, some SHOW forms)
        kind = str(statement.this).upper()
    raise QueryFailed("NOT_SUPPORTED", f"The workbook's local Athena (emulated) runs SELECT queries only, not {kind}: "
                                       "run it against AWS, or write the data to S3 and catalog it in Glue.")


def _bind_parameters(statement: exp.Expression, parameters: list[str]) -> exp.Expression:
    # `?` (no name), in reading order: depth first, left to right.
    placeholders = [p for p in statement.find_all(exp.Placeholder, bfs=False) if p.this is None]
    if len(placeholders) != len(parameters):
        raise QueryFailed("INVALID_PARAMETER_USAGE", f"line 1:1: Incorrect number of parameters: expected "
                                                     f"{len(placeholders)} but found {len(parameters)}")
    for placeholder, value in zip(placeholders, parameters, strict=True):
        placeholder.replace(sqlglot.parse_one(value, read="athena"))
    return statement


def _name_columns(select: exp.Expression) -> None:
    """Trino names a result column by its alias, or the column it reads, else `_col<position>`; unquoted names are
    lower-cased."""
    if isinstance(select, exp.SetOperation):
        _name_columns(select.left)
        return
    if not isinstance(select, exp.Select):
        return
    for index, projection in enumerate(select.expressions):
        if isinstance(projection, exp.Alias):
            alias = projection.args.get("alias")
            if isinstance(alias, exp.Identifier) and not alias.quoted:
                alias.set("this", alias.name.lower())
        elif isinstance(projection, (exp.Column, exp.Star)) or (isinstance(projection, exp.Dot)
                                                                and isinstance(projection.expression, exp.Star)):
            continue
        else:
            projection.replace(exp.alias_(projection.copy(), f"_col{index}", quoted=True))


def translate(query: str, database: str | None, parameters: list[str] | None = None) -> Translated:
    """DuckDB's SQL for an Athena query run with `database` as the context's database (Athena's `default` when
    none is given). Catalog tables keep their
    `database.table` names: the runner defines them as views of the same names."""
    statement = parse(query)
    _refuse_unsupported(statement)
    if parameters:
        statement = _bind_parameters(statement, parameters)
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    tables, seen = [], set()
    for table in statement.find_all(exp.Table):
        if not table.name or isinstance(table.this, exp.Func):
            continue
        catalog, db, name = table.catalog.lower(), table.db.lower(), table.name.lower()
        if not db and name in ctes:
            continue
        if catalog and catalog != CATALOG:
            line, col = _position(query, _first_identifier(table))
            raise QueryFailed("CATALOG_NOT_FOUND", f"line {line}:{col}: Catalog '{catalog}' does not exist")
        ref = TableRef(db or (database or "default").lower(), name, *_position(query, _first_identifier(table)))
        # The runner's DuckDB has each Glue database as a schema of its default catalog.
        table.set("catalog", None)
        table.set("db", exp.to_identifier(ref.database, quoted=True))
        table.set("this", exp.to_identifier(ref.name, quoted=True))
        if (ref.database, ref.name) not in seen:
            seen.add((ref.database, ref.name))
            tables.append(ref)
    functions = {}
    for func in statement.find_all(exp.Anonymous):
        functions.setdefault(func.name.lower(), _position(query, func))
    columns = {}
    for column in statement.find_all(exp.Column):
        if column.name:
            # Trino points at the start of the reference, its qualifier when it has one.
            first = next((column.args[k] for k in ("catalog", "db", "table") if column.args.get(k)), column.this)
            columns.setdefault(column.name.lower(), _position(query, first))
    _name_columns(statement)
    tables.sort(key=lambda t: (t.line, t.column))  # in reading order: the first missing one is the one Athena names
    return Translated(statement.sql(dialect="duckdb"), tables, functions, columns)


_FUNCTION = re.compile(r"(?:Scalar|Aggregate|Table) Function with name \"?(\w+)\"? does not exist", re.I)
_COLUMN = re.compile(r"Referenced column \"?([^\"\s]+)\"? not found|does not have a column named \"([^\"]+)\"", re.I)


def engine_error(message: str, translated: Translated) -> QueryFailed:
    """Athena's reason for a DuckDB error (the message DuckDB gave, when Athena's words are not known)."""
    first_line = message.splitlines()[0] if message else "unknown error"
    if match := _FUNCTION.search(message):
        name = match.group(1).lower()
        line, col = translated.functions.get(name, (1, 1))
        return QueryFailed("FUNCTION_NOT_FOUND", f"line {line}:{col}: Function '{name}' not registered")
    if match := _COLUMN.search(message):
        name = (match.group(1) or match.group(2)).split(".")[-1].lower()
        line, col = translated.columns.get(name, (1, 1))
        return QueryFailed("COLUMN_NOT_FOUND", f"line {line}:{col}: Column '{name}' cannot be resolved or requester "
                                               "is not authorized to access requested resources")
    if "Conversion Error" in message or "Invalid Input Error" in message:
        return QueryFailed("INVALID_CAST_ARGUMENT", f"{first_line} (emulated by DuckDB)")
    return QueryFailed("GENERIC_INTERNAL_ERROR", f"{first_line} (emulated by DuckDB)")
