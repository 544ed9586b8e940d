"""The local Snowflake process: fakesnow's server over TLS, plus what the workbook's DAGs need and fakesnow lacks.

fakesnow (server mode) speaks Snowflake's HTTP protocol to an unmodified connector, on one shared in-memory
DuckDB. Around it this process adds, each labelled where it is defined:

- `/_workbook/health`, answering with the token the process was started with (the workbook's own server, not
  another program on the port). It answers at once; fakesnow itself is imported in the background (2-3 s),
  and queries wait for it, so starting the local cloud stays fast.
- An s3fs filesystem on fakesnow's DuckDB connection, pointed at the local cloud's AWS endpoint, so that
  `COPY INTO ... FROM @stage` reads an S3 stage from the local cloud (DuckDB's httpfs cannot be downloaded here).
- No-op rules for statements about compute and access that have no local meaning (`NOP_RULES`).
- `EMULATED STATEMENTS`: storage integrations (CREATE, DESC, SHOW, DROP), DROP DATABASE and DROP STAGE, which
  fakesnow cannot parse, and `COPY INTO ... FROM @stage/` (the stage's root with a slash), which it misreads.
  DESC INTEGRATION returns emulated Snowflake-side identities (`EMULATED_...`).
- CSV fields read as text, as Snowflake does before casting to the column type (fakesnow lets DuckDB guess
  types, which turns station id 6140.10 into 6140.1 in a text column).
- A statement fakesnow fails on with an unexpected exception is answered as a SQL error naming the local
  Snowflake, not as HTTP 500, which the connector would retry for minutes.

Run by `helpers.localcloud` as `python -m helpers.localcloud.snowflake_server --port N --token T ...`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

QUERY_PATH = "/queries/v1/query-request"
_LEADING_COMMENTS = re.compile(r"\A(\s*(--[^\n]*(\n|\Z)|/\*.*?\*/))+\s*", re.DOTALL)

# Compute and access have no local meaning: these statements succeed and do nothing (fakesnow `nop_regexes`,
# matched case-insensitively at the start of the statement).
NOP_RULES = [
    r"\s*(CREATE|ALTER|DROP|USE)\s+(OR\s+REPLACE\s+)?WAREHOUSE\b",
    r"\s*USE\s+(SECONDARY\s+)?ROLES?\b",
    r"\s*(GRANT|REVOKE)\b",
]

# EMULATED: real Snowflake creates an IAM user for the account and an external ID per storage integration;
# AWS trust policies name them. Locally they are made up, in the local cloud's account, and say so.
EMULATED_IAM_USER_ARN = "arn:aws:iam::123456789012:user/workbook-emulated-snowflake-user"


def emulated_external_id(integration: str) -> str:
    return f"WORKBOOK_EMULATED_SFCRole={hashlib.sha256(integration.encode()).hexdigest()[:24]}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _values_query(columns: list[str], rows: list[tuple[str, ...]]) -> str:
    if not rows:
        return "SELECT " + ", ".join(f'NULL AS "{c}"' for c in columns) + " WHERE 1 = 0"
    values = ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)
    # Quoted aliases keep Snowflake's lower-case column names for DESC and SHOW output.
    aliases = ", ".join(f'"{c}"' for c in columns)
    return f"SELECT * FROM (VALUES {values}) AS t({aliases})"


def _status(message: str) -> str:
    return f"SELECT {_literal(message)} AS status"


class SqlError(Exception):
    """A Snowflake SQL error: code and message as Snowflake would send them."""

    def __init__(self, code: str, message: str, sqlstate: str = "02000"):
        super().__init__(message)
        self.code, self.message, self.sqlstate = code, message, sqlstate


@dataclass
class Integration:
    name: str
    role_arn: str
    allowed_locations: str
    enabled: str


_NAME = r"(?:\"[^\"]+\"|[\w$]+)"


def _ident(raw: str) -> str:
    return raw[1:-1] if raw.startswith('"') else raw.upper()


@dataclass
class EmulatedStatements:
    """EMULATED STATEMENTS: what fakesnow cannot parse, handled here. `rewrite` returns the SQL fakesnow runs instead."""

    duck: Callable  # () -> a DuckDB cursor on fakesnow's shared connection
    integrations: dict[str, Integration] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rewrite(self, sql: str) -> str | None:
        text = sql.strip().rstrip(";").strip()
        for pattern, handler in self._rules():
            if (match := re.match(pattern, text, re.IGNORECASE | re.DOTALL)):
                with self.lock:
                    return handler(match, text)
        return None

    def _rules(self):
        return [
            (rf"CREATE\s+(OR\s+REPLACE\s+)?STORAGE\s+INTEGRATION\s+(IF\s+NOT\s+EXISTS\s+)?({_NAME})\b", self._create_integration),
            (rf"(DESC|DESCRIBE)\s+(STORAGE\s+)?INTEGRATION\s+({_NAME})$", self._describe_integration),
            (r"SHOW\s+(STORAGE\s+)?INTEGRATIONS(\s+LIKE\s+'([^']*)')?$", self._show_integrations),
            (rf"DROP\s+(STORAGE\s+)?INTEGRATION\s+(IF\s+EXISTS\s+)?({_NAME})$", self._drop_integration),
            (rf"DROP\s+DATABASE\s+(IF\s+EXISTS\s+)?({_NAME})(\s+(CASCADE|RESTRICT))?$", self._drop_database),
            (rf"DROP\s+STAGE\s+(IF\s+EXISTS\s+)?((?:{_NAME}\.){{0,2}}{_NAME})$", self._drop_stage),
            (rf"(COPY\s+INTO\s+.+?\s+FROM\s+@(?:{_NAME}\.){{0,2}}{_NAME})/((?:\s.*)?)$", self._copy_from_stage_root),
        ]

    def _copy_from_stage_root(self, match: re.Match, text: str) -> str:
        # `@stage/` (the stage's root, as CopyFromExternalStageToSnowflakeOperator writes it without a prefix) is
        # `@stage` to Snowflake; fakesnow would look for a stage named "stage/". A path after the slash stays unsupported.
        return match.group(1) + match.group(2)

    def _create_integration(self, match: re.Match, text: str) -> str:
        name = _ident(match.group(3))
        if name in self.integrations and not match.group(1):
            if match.group(2):
                return _status(f"{name} already exists, statement succeeded.")
            raise SqlError("002002", f"SQL compilation error:\nObject '{name}' already exists.", "42710")
        role = re.search(r"STORAGE_AWS_ROLE_ARN\s*=\s*'([^']*)'", text, re.IGNORECASE)
        locations = re.search(r"STORAGE_ALLOWED_LOCATIONS\s*=\s*\(([^)]*)\)", text, re.IGNORECASE)
        enabled = re.search(r"ENABLED\s*=\s*(TRUE|FALSE)", text, re.IGNORECASE)
        self.integrations[name] = Integration(name, role.group(1) if role else "",
                                              ",".join(re.findall(r"'([^']*)'", locations.group(1))) if locations else "",
                                              (enabled.group(1) if enabled else "TRUE").lower())
        return _status(f"Integration {name} successfully created.")

    def _describe_integration(self, match: re.Match, text: str) -> str:
        found = self._integration(_ident(match.group(3)))
        rows = [("ENABLED", "Boolean", found.enabled, "false"),
                ("STORAGE_PROVIDER", "String", "S3", ""),
                ("STORAGE_ALLOWED_LOCATIONS", "List", found.allowed_locations, "[]"),
                ("STORAGE_BLOCKED_LOCATIONS", "List", "", "[]"),
                ("STORAGE_AWS_IAM_USER_ARN", "String", EMULATED_IAM_USER_ARN, ""),
                ("STORAGE_AWS_ROLE_ARN", "String", found.role_arn, ""),
                ("STORAGE_AWS_EXTERNAL_ID", "String", emulated_external_id(found.name), ""),
                ("COMMENT", "String", "emulated by the workbook's local Snowflake", "")]
        return _values_query(["property", "property_type", "property_value", "property_default"], rows)

    def _show_integrations(self, match: re.Match, text: str) -> str:
        like = re.compile("^" + re.escape(match.group(3) or "%").replace("%", ".*").replace("_", ".") + "$", re.IGNORECASE)
        rows = [(i.name, "EXTERNAL_STAGE", "STORAGE", i.enabled, "emulated") for i in self.integrations.values() if like.match(i.name)]
        return _values_query(["name", "type", "category", "enabled", "comment"], rows)

    def _drop_integration(self, match: re.Match, text: str) -> str:
        name = _ident(match.group(3))
        if name not in self.integrations and not match.group(2):
            self._integration(name)  # raises as Snowflake does
        self.integrations.pop(name, None)
        return _status(f"{name} successfully dropped.")

    def _integration(self, name: str) -> Integration:
        if name not in self.integrations:
            raise SqlError("002003", f"SQL compilation error:\nIntegration '{name}' does not exist or not authorized.")
        return self.integrations[name]

    def _drop_database(self, match: re.Match, text: str) -> str:
        name = _ident(match.group(2))
        cur = self.duck()
        attached = {row[0].upper() for row in cur.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
        if name not in attached:
            if match.group(1):
                return _status("Drop statement executed successfully (DATABASE already dropped).")
            raise SqlError("002003", f"SQL compilation error:\nDatabase '{name}' does not exist or not authorized.")
        cur.execute(f'DETACH DATABASE "{name}"')
        cur.execute("DELETE FROM _fs_global._fs_information_schema._fs_stages WHERE database_name = ?", [name])
        return _status(f"{name} successfully dropped.")

    def _drop_stage(self, match: re.Match, text: str) -> str:
        parts = [_ident(p) for p in re.findall(_NAME, match.group(2))]
        where, args = ["name = ?"], [parts[-1]]
        for column, value in zip(("schema_name", "database_name"), reversed(parts[:-1]), strict=False):
            where.append(f"{column} = ?")
            args.append(value)
        cur = self.duck()
        sql = f"DELETE FROM _fs_global._fs_information_schema._fs_stages WHERE {' AND '.join(where)} RETURNING name"
        if not cur.execute(sql, args).fetchall() and not match.group(1):
            raise SqlError("002003", f"SQL compilation error:\nStage '{'.'.join(parts)}' does not exist or not authorized.")
        return _status(f"{parts[-1]} successfully dropped.")


def _error(code: str, message: str, sqlstate: str) -> JSONResponse:
    return JSONResponse({"data": {"errorCode": code, "sqlState": sqlstate}, "code": code, "message": message, "success": False})


class LocalSnowflake:
    """The ASGI app: health at once; everything else by fakesnow once it has loaded."""

    def __init__(self, token: str, aws_endpoint: str, region: str, log_file: str):
        self.token, self.aws_endpoint, self.region, self.log_file = token, aws_endpoint, region, log_file
        self.loaded = threading.Event()
        self.failure = ""
        self.app = None
        threading.Thread(target=self._load, name="load-fakesnow", daemon=True).start()

    def _load(self) -> None:
        try:
            self.app = self._build()
        except Exception as exc:  # reported to every query, and in the log
            self.failure = f"{type(exc).__name__}: {exc}"
            print(f"loading fakesnow failed: {self.failure}", flush=True)
        self.loaded.set()

    def _build(self):
        import importlib
        from importlib.metadata import version

        import s3fs
        from fakesnow import copy_into
        from starlette.applications import Starlette
        from starlette.routing import Route

        fakesnow_server = importlib.import_module("fakesnow.server")  # `fakesnow.server` the attribute is a function
        self.version = version("fakesnow")
        shared = fakesnow_server.shared_fs
        shared.nop_regexes = NOP_RULES
        # Listings are not cached: a DAG writes files to the stage, then COPY must see them.
        s3 = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=self.aws_endpoint, use_listings_cache=False,
                               client_kwargs={"region_name": self.region})
        shared.duck_conn.register_filesystem(s3)
        _read_csv_as_text(copy_into)
        self.statements = EmulatedStatements(shared.duck_conn.cursor)
        self.fakesnow_query = fakesnow_server.query_request
        routes = [Route(QUERY_PATH, self.query, methods=["POST"])]
        routes += [r for r in fakesnow_server.routes if getattr(r, "path", "") != QUERY_PATH]
        return Starlette(routes=routes)

    async def __call__(self, scope, receive, send):
        if scope.get("path") == "/_workbook/health":
            body = {"token": self.token, "loaded": self.loaded.is_set(), "failure": self.failure}
            await JSONResponse(body)(scope, receive, send)
            return
        if not self.loaded.is_set():
            await run_in_threadpool(self.loaded.wait, 60)
        if self.app is None:
            message = f"The local Snowflake could not load fakesnow ({self.failure or 'still loading'}); see {self.log_file}."
            # Answered as a failed request, not HTTP 503, which the connector would retry for minutes.
            await JSONResponse({"data": None, "code": "390000", "message": message, "success": False})(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def query(self, request: Request) -> JSONResponse:
        raw = await request.body()
        payload = json.loads(gzip.decompress(raw) if request.headers.get("Content-Encoding") == "gzip" else raw)
        # Leading comments (a .sql file's header) would hide the statement from the rules, which match at its start.
        payload["sqlText"] = _LEADING_COMMENTS.sub("", payload.get("sqlText", ""))
        try:
            rewritten = await run_in_threadpool(self.statements.rewrite, payload["sqlText"])
        except SqlError as err:
            return _error(err.code, err.message, err.sqlstate)
        if rewritten is not None:
            payload = {**payload, "sqlText": rewritten, "describeOnly": False}
        body = json.dumps(payload).encode()
        headers = [(k, v) for k, v in request.scope["headers"] if k not in (b"content-encoding", b"content-length")]

        async def replay():
            return {"type": "http.request", "body": body, "more_body": False}

        response = await self.fakesnow_query(Request({**request.scope, "headers": headers}, replay))
        if response.status_code >= 500:
            reason = json.loads(response.body).get("message", "")
            return _error("000999", f"The local Snowflake (fakesnow {self.version}, emulated) failed on this statement; "
                                    f"it may be unsupported locally. See {self.log_file}. {reason[:300]}", "XX000")
        return response


def _read_csv_as_text(copy_into) -> None:
    """COPY reads CSV fields as text, as Snowflake does, and the target column's type casts them."""
    original = copy_into.ReadCSV.read_expression

    def read_expression(self, url: str):
        expression = original(self, url)
        expression.append("expressions", self.make_eq("all_varchar", True))
        return expression

    copy_into.ReadCSV.read_expression = read_expression


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--port", "--token", "--cert", "--key", "--aws-endpoint", "--region", "--log-file"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)
    import uvicorn

    app = LocalSnowflake(args.token, args.aws_endpoint, args.region, args.log_file)
    # Clients keep sessions open (connection pools): on SIGTERM wait briefly for them, not until they go.
    uvicorn.run(app, host="127.0.0.1", port=int(args.port), ssl_certfile=args.cert, ssl_keyfile=args.key, log_level="warning",
                lifespan="off", timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
