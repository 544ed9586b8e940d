"""A subset of the CloudWatch Logs Insights query language, parsed and evaluated over log events (emulated).

moto answers StartQuery/GetQueryResults but ignores `filter` and `stats`; `apply()` puts this evaluator behind them.
Pure Python: `parse(query)` checks the syntax (MalformedQuery otherwise), `run(query, events, limit)` evaluates it.

Supported, as on the service: commands separated by `|` (comments with `#`); `fields` (with `as` aliases), `filter`
(`=`, `!=`, `<`, `<=`, `>`, `>=`, `like /re/` or `like "substring"`, `=~ /re/`, `in [..]`, `not like`, `not in`,
`and`, `or`, `not`, parentheses, `ispresent(f)`), `parse f "glob * text *" as a, b` and `parse f /(?<name>re)/`,
`stats count(*)|count(f)|count_distinct(f)|sum|avg|min|max [as n], ... [by f|bin(5m) [as n], ...]`,
`sort f [asc|desc], ...` (the service's natural order), `limit N`, `display`. Fields of JSON messages are discovered
(nested keys joined with dots). Anything else (other commands, functions, arithmetic) raises MalformedQuery rather than
being guessed at.

Choices where the service leaves it open: without `sort`, events come newest first (what the service returns in
practice); without `limit` (and no StartQuery `limit`), 10,000 rows (the `limit` command's documented default);
`sort f` without a direction sorts descending; a comparison with a field an event lacks is false (also for `!=`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

DEFAULT_LIMIT = 10_000

# Commands the service's grammar lists in its "expecting {...}" message for an unknown command.
_COMMANDS = ("fields", "filter", "parse", "stats", "sort", "limit", "display")
_EXPECTING = "{K_PARSE, K_SEARCH, K_FIELDS, K_DISPLAY, K_FILTER, K_SORT, K_ORDER, K_HEAD, K_LIMIT, K_TAIL, K_STATS}"
_KNOWN_ELSEWHERE = ("dedup", "unmask", "pattern", "diff", "head", "tail", "search", "order", "anomaly", "unnest",
                    "filterindex", "source", "lookup")
_AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max")
_UNITS_MS = {"ms": 1, "s": 1000, "sec": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "hr": 3_600_000,
             "d": 86_400_000, "w": 604_800_000}


class _Time(int):
    """A time in ms that results print as a date (it stays a number for comparisons, sums and bins)."""


class MalformedQuery(ValueError):
    """The query is not in the supported syntax; start/end are character offsets into the query string."""

    def __init__(self, message: str, start: int = 0, end: int = 0):
        super().__init__(message)
        self.message, self.start, self.end = message, start, end


@dataclass
class Event:
    timestamp: int  # ms
    message: str
    log_stream: str
    log_group: str
    account_id: str = "123456789012"
    ingestion_time: int | None = None
    ptr: str = ""


@dataclass
class Result:
    rows: list[list[dict]]
    records_matched: int
    records_scanned: int
    bytes_scanned: int

    def statistics(self) -> dict:
        return {"recordsMatched": float(self.records_matched), "recordsScanned": float(self.records_scanned),
                "bytesScanned": float(self.bytes_scanned)}


# ---------------------------------------------------------------- tokens

@dataclass
class Tok:
    kind: str  # word, string, regex, number, op, pipe
    text: str
    start: int
    end: int
    value: object = None


_TOKEN = re.compile(r"""
    (?P<space>\s+) | (?P<comment>\#[^\n]*) | (?P<pipe>\|)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<regex>/(?:[^/\\\n]|\\.)*/[a-z]*)
  | (?P<backtick>`[^`]*`)
  | (?P<number>-?\d+(?:\.\d+)?(?![\w@.]))
  | (?P<word>[@A-Za-z_][\w@.\-]*|\d+[A-Za-z]+)
  | (?P<op>!=|<=|>=|=~|[=<>(),\[\]*+])
""", re.VERBOSE)


def _tokens(query: str) -> list[Tok]:
    out, pos = [], 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m:
            raise MalformedQuery(f"token recognition error at: '{query[pos]}'", pos, pos + 1)
        kind, text = m.lastgroup, m.group()
        if kind == "backtick":
            out.append(Tok("word", text, m.start(), m.end(), text[1:-1]))
        elif kind == "string":
            out.append(Tok("string", text, m.start(), m.end(), re.sub(r"\\(.)", r"\1", text[1:-1])))
        elif kind == "regex":
            body, flags = text[1:text.rindex("/")], text[text.rindex("/") + 1:]
            out.append(Tok("regex", text, m.start(), m.end(), _regex(body, flags, m.start())))
        elif kind == "number":
            out.append(Tok("number", text, m.start(), m.end(), float(text) if "." in text else int(text)))
        elif kind not in ("space", "comment"):
            out.append(Tok(kind, text, m.start(), m.end(), text))
        pos = m.end()
    return out


def _regex(body: str, flags: str, at: int) -> re.Pattern:
    # The service writes named groups as (?<name>...), Python as (?P<name>...); lookbehinds (?<= (?<! stay.
    body = re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", body.replace(r"\/", "/"))
    try:
        return re.compile(body, re.IGNORECASE if "i" in flags else 0)
    except re.error as exc:
        raise MalformedQuery(f"Invalid regular expression: {exc}", at, at + len(body) + 2) from None


class _Cursor:
    def __init__(self, toks: list[Tok], query: str):
        self.toks, self.i, self.query = toks, 0, query

    def peek(self, offset: int = 0) -> Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def next(self) -> Tok:
        tok = self.peek()
        if tok is None:
            end = len(self.query)
            raise MalformedQuery("mismatched input '<EOF>'", end, end)
        self.i += 1
        return tok

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "word" and tok.text.lower() in words

    def is_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "op" and tok.text in ops

    def expect_op(self, op: str) -> Tok:
        tok = self.next()
        if tok.kind != "op" or tok.text != op:
            raise _mismatch(tok, f"'{op}'")
        return tok

    def field_name(self) -> str:
        tok = self.next()
        if tok.kind != "word":
            raise _mismatch(tok, "a field name")
        return tok.value

    def done(self) -> bool:
        return self.i >= len(self.toks)


def _mismatch(tok: Tok, expecting: str) -> MalformedQuery:
    return MalformedQuery(f"mismatched input '{tok.text}' expecting {expecting}", tok.start, tok.end)


# ---------------------------------------------------------------- expressions

# An expression is a tuple tree: ("field", name) ("lit", value) ("and"|"or", a, b) ("not", a)
# ("cmp", op, a, b) ("like", a, pattern) ("in", a, [values]) ("present", name)

def _expression(c: _Cursor):
    left = _conjunction(c)
    while c.is_word("or"):
        c.next()
        left = ("or", left, _conjunction(c))
    return left


def _conjunction(c: _Cursor):
    left = _negation(c)
    while c.is_word("and"):
        c.next()
        left = ("and", left, _negation(c))
    return left


def _negation(c: _Cursor):
    if c.is_word("not"):
        c.next()
        return ("not", _negation(c))
    return _comparison(c)


def _comparison(c: _Cursor):
    left = _operand(c)
    negate = False
    if c.is_word("not") and c.peek(1) is not None and c.peek(1).text.lower() in ("like", "in"):
        c.next()
        negate = True
    if c.is_word("like") or c.is_op("=~"):
        c.next()
        tok = c.next()
        if tok.kind == "regex":
            node = ("like", left, tok.value)
        elif tok.kind == "string":
            node = ("like", left, re.compile(re.escape(tok.value)))
        else:
            raise _mismatch(tok, "a /regex/ or a \"string\"")
    elif c.is_word("in"):
        c.next()
        c.expect_op("[")
        values = [] if c.is_op("]") else [_literal(c.next())]
        while c.is_op(","):
            c.next()
            values.append(_literal(c.next()))
        c.expect_op("]")
        node = ("in", left, values)
    elif not negate and c.is_op("=", "!=", "<", "<=", ">", ">="):
        op = c.next().text
        node = ("cmp", op, left, _operand(c))
    elif negate:
        raise _mismatch(c.next(), "'like' or 'in'")
    else:
        return left
    return ("not", node) if negate else node


def _literal(tok: Tok):
    if tok.kind in ("string", "number"):
        return tok.value
    raise _mismatch(tok, "a string or a number")


def _operand(c: _Cursor):
    tok = c.next()
    if tok.kind == "op" and tok.text == "(":
        inner = _expression(c)
        c.expect_op(")")
        return inner
    if tok.kind in ("string", "number"):
        return ("lit", tok.value)
    if tok.kind == "word":
        if c.is_op("("):
            if tok.text.lower() == "ispresent":
                c.next()
                name = c.field_name()
                c.expect_op(")")
                return ("present", name)
            raise MalformedQuery(f"function {tok.text}() is not supported by the local Logs Insights",
                                 tok.start, tok.end)
        return ("field", tok.value)
    raise _mismatch(tok, "a field, a string or a number")


def _number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _compare(op: str, a, b) -> bool:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        a, b = na, nb
    else:
        a, b = _text(a), _text(b)
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _evaluate(node, record: dict):
    kind = node[0]
    if kind == "field":
        return record.get(node[1])
    if kind == "lit":
        return node[1]
    if kind == "present":
        return record.get(node[1]) is not None
    if kind == "and":
        return bool(_evaluate(node[1], record)) and bool(_evaluate(node[2], record))
    if kind == "or":
        return bool(_evaluate(node[1], record)) or bool(_evaluate(node[2], record))
    if kind == "not":
        return not _evaluate(node[1], record)
    if kind == "cmp":
        a, b = _evaluate(node[2], record), _evaluate(node[3], record)
        return a is not None and b is not None and _compare(node[1], a, b)
    if kind == "like":
        value = _evaluate(node[1], record)
        return value is not None and node[2].search(_text(value)) is not None
    if kind == "in":
        value = _evaluate(node[1], record)
        return value is not None and any(_compare("=", value, v) for v in node[2])
    raise AssertionError(kind)


# ---------------------------------------------------------------- commands

@dataclass
class Fields:
    items: list[tuple[str, str]]  # (source field, output name)


@dataclass
class Filter:
    expression: tuple


@dataclass
class Parse:
    source: str
    pattern: re.Pattern
    names: list[str]  # output fields, in the pattern's group order


@dataclass
class Aggregate:
    function: str
    argument: str | None  # None for count(*)
    name: str


@dataclass
class Group:
    source: str
    bin_ms: int | None
    name: str


@dataclass
class Stats:
    aggregates: list[Aggregate]
    groups: list[Group]


@dataclass
class Sort:
    keys: list[tuple[str, bool]]  # (field, descending)


@dataclass
class Limit:
    count: int


@dataclass
class Display:
    names: list[str]


@dataclass
class Query:
    text: str
    commands: list = field(default_factory=list)

    @property
    def is_stats(self) -> bool:
        return any(isinstance(cmd, Stats) for cmd in self.commands)


def parse(query: str) -> Query:
    """The query's commands, or MalformedQuery at the first thing outside the supported syntax."""
    toks = _tokens(query)
    parsed = Query(query)
    segments, current = [], []
    for tok in toks:
        if tok.kind == "pipe":
            segments.append((current, tok))
            current = []
        else:
            current.append(tok)
    segments.append((current, None))
    for seg, pipe in segments:
        if not seg:
            at = pipe.start if pipe else len(query)
            raise MalformedQuery("mismatched input '|' expecting " + _EXPECTING if pipe
                                 else "mismatched input '<EOF>' expecting " + _EXPECTING, at, at + 1)
        parsed.commands.append(_command(_Cursor(seg, query)))
    return parsed


def _command(c: _Cursor):
    head = c.next()
    name = head.text.lower() if head.kind == "word" else ""
    if name not in _COMMANDS:
        if name in _KNOWN_ELSEWHERE:
            raise MalformedQuery(f"the {name} command is not supported by the local Logs Insights", head.start, head.end)
        raise _mismatch(head, _EXPECTING)
    command = {"fields": _fields, "filter": _filter, "parse": _parse, "stats": _stats, "sort": _sort,
               "limit": _limit, "display": _display}[name](c)
    if not c.done():
        raise _mismatch(c.peek(), "'|' or <EOF>")
    return command


def _name_list(c: _Cursor) -> list[str]:
    names = [c.field_name()]
    while c.is_op(","):
        c.next()
        names.append(c.field_name())
    return names


def _fields(c: _Cursor) -> Fields:
    items = []
    while True:
        tok = c.peek()
        source = c.field_name()
        if c.is_op("("):
            raise MalformedQuery(f"function {tok.text}() is not supported by the local Logs Insights",
                                 tok.start, tok.end)
        alias = source
        if c.is_word("as"):
            c.next()
            alias = c.field_name()
        items.append((source, alias))
        if not c.is_op(","):
            return Fields(items)
        c.next()


def _filter(c: _Cursor) -> Filter:
    return Filter(_expression(c))


def _parse(c: _Cursor) -> Parse:
    source = c.field_name()
    tok = c.next()
    if tok.kind == "regex":
        names = list(tok.value.groupindex)
        if not names:
            raise MalformedQuery("parse with a regular expression needs named groups (?<name>...)", tok.start, tok.end)
        if c.is_word("as"):
            raise _mismatch(c.peek(), "'|' or <EOF>")
        return Parse(source, tok.value, names)
    if tok.kind != "string":
        raise _mismatch(tok, "a \"glob pattern\" or a /regex/")
    if not c.is_word("as"):
        raise _mismatch(c.next(), "'as'") if not c.done() else MalformedQuery(
            "mismatched input '<EOF>' expecting 'as'", tok.end, tok.end)
    c.next()
    names = _name_list(c)
    parts = tok.value.split("*")
    if len(parts) - 1 != len(names):
        raise MalformedQuery(f"the pattern has {len(parts) - 1} wildcards but {len(names)} fields follow 'as'",
                             tok.start, tok.end)
    # Wildcards match as little as they can, except a trailing one, which takes the rest of the value.
    groups = ["(.*?)"] * (len(parts) - 1)
    if parts[-1] == "" and groups:
        groups[-1] = "(.*)"
    pattern = re.escape(parts[0]) + "".join(g + re.escape(p) for g, p in zip(groups, parts[1:], strict=True))
    return Parse(source, re.compile(pattern, re.DOTALL), names)


def _stats(c: _Cursor) -> Stats:
    aggregates = []
    while True:
        tok = c.next()
        function = tok.text.lower() if tok.kind == "word" else ""
        if function not in _AGGREGATES or not c.is_op("("):
            if tok.kind == "word" and c.is_op("("):
                raise MalformedQuery(f"function {tok.text}() is not supported by the local Logs Insights",
                                     tok.start, tok.end)
            raise _mismatch(tok, "an aggregate function")
        c.next()
        if c.is_op("*") or c.is_op(")"):
            if function != "count":
                raise _mismatch(c.peek(), "a field name")
            if c.is_op("*"):
                c.next()
            argument = None
        else:
            argument = c.field_name()
        close = c.expect_op(")")
        name = c.query[tok.start:close.end]
        if c.is_word("as"):
            c.next()
            name = c.field_name()
        aggregates.append(Aggregate(function, argument, name))
        if not c.is_op(","):
            break
        c.next()
    groups = []
    if c.is_word("by"):
        c.next()
        while True:
            groups.append(_group(c))
            if not c.is_op(","):
                break
            c.next()
    return Stats(aggregates, groups)


def _group(c: _Cursor) -> Group:
    tok = c.next()
    if tok.kind == "word" and tok.text.lower() == "bin" and c.is_op("("):
        c.next()
        size = c.next()
        unit = re.fullmatch(r"(\d+)([a-z]+)", size.text)
        if size.kind != "word" or not unit or unit.group(2) not in _UNITS_MS:
            raise _mismatch(size, "a period such as 5m")
        close = c.expect_op(")")
        group = Group("@timestamp", int(unit.group(1)) * _UNITS_MS[unit.group(2)], c.query[tok.start:close.end])
    elif tok.kind == "word" and not c.is_op("("):
        group = Group(tok.value, None, tok.value)
    else:
        raise _mismatch(tok, "a field name or bin(period)")
    if c.is_word("as"):
        c.next()
        group.name = c.field_name()
    return group


def _column(c: _Cursor) -> str:
    """A field, or a stats column named by its expression as written (`count(*)`, `bin(5m)`)."""
    tok = c.peek()
    name = c.field_name()
    if not c.is_op("("):
        return name
    while c.next().text != ")":
        pass
    return c.query[tok.start:c.toks[c.i - 1].end]


def _sort(c: _Cursor) -> Sort:
    keys = []
    while True:
        name = _column(c)
        descending = True
        if c.is_word("asc", "desc"):
            descending = c.next().text.lower() == "desc"
        keys.append((name, descending))
        if not c.is_op(","):
            return Sort(keys)
        c.next()


def _limit(c: _Cursor) -> Limit:
    tok = c.next()
    if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 1:
        raise _mismatch(tok, "a positive integer")
    return Limit(tok.value)


def _display(c: _Cursor) -> Display:
    names = [_column(c)]
    while c.is_op(","):
        c.next()
        names.append(_column(c))
    return Display(names)


# ---------------------------------------------------------------- evaluation

def format_timestamp(ms: int) -> str:
    """A time as the service prints it in results: `2026-01-01 00:00:00.000` (UTC)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{int(ms) % 1000:03d}"


def _flatten(value, prefix: str, out: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            _flatten(inner, f"{prefix}.{n}", out)
    elif value is not None and prefix:
        out[prefix] = value


def _record(event: Event) -> dict:
    record: dict = {}
    if event.message.lstrip().startswith("{"):
        try:
            _flatten(json.loads(event.message), "", record)
        except ValueError:
            pass
    record.update({"@timestamp": _Time(event.timestamp), "@message": event.message, "@logStream": event.log_stream,
                   "@log": f"{event.account_id}:{event.log_group}", "@ptr": event.ptr})
    if event.ingestion_time is not None:
        record["@ingestionTime"] = _Time(event.ingestion_time)
    return record


def _natural_key(value):
    # The service's order: non-numbers before numbers; within text, digit runs by length then value.
    number = _number(value) if not isinstance(value, str) or re.fullmatch(r"-?\d+(\.\d+)?", value) else None
    if number is not None:
        return (1, number, ())
    chunks = tuple(("0", len(run), int(run)) if run.isdigit() else (run, 0, 0)
                   for run in re.findall(r"\d+|\D+", _text(value)))
    return (0, 0, chunks)


def _sorted(records: list[dict], keys: list[tuple[str, bool]]) -> list[dict]:
    for name, descending in reversed(keys):
        present = [r for r in records if r.get(name) is not None]
        missing = [r for r in records if r.get(name) is None]
        present.sort(key=lambda r: _natural_key(r[name]), reverse=descending)
        records = present + missing
    return records


def _aggregate(agg: Aggregate, records: list[dict]):
    if agg.argument is None:
        return len(records)
    values = [r[agg.argument] for r in records if r.get(agg.argument) is not None]
    if agg.function == "count":
        return len(values)
    if agg.function == "count_distinct":
        return len({_text(v) for v in values})
    numbers = [n for n in (_number(v) for v in values) if n is not None]
    if not numbers:
        return None
    if agg.function == "sum":
        return sum(numbers)
    if agg.function == "avg":
        return sum(numbers) / len(numbers)
    return min(numbers) if agg.function == "min" else max(numbers)


def _stats_rows(stats: Stats, records: list[dict]) -> list[dict]:
    buckets: dict[tuple, list[dict]] = {}
    for record in records:
        key = []
        for group in stats.groups:
            value = record.get(group.source)
            if group.bin_ms is not None and value is not None:
                value = int(value) // group.bin_ms * group.bin_ms
            key.append(value)
        buckets.setdefault(tuple(key), []).append(record)
    if not stats.groups and not buckets:
        buckets[()] = []  # the service answers an ungrouped count over nothing with 0
    rows = []
    for key, members in buckets.items():
        row = {}
        for group, value in zip(stats.groups, key, strict=True):
            if value is not None:
                row[group.name] = _Time(value) if group.bin_ms is not None else value
        for agg in stats.aggregates:
            value = _aggregate(agg, members)
            if value is not None:
                row[agg.name] = value
        rows.append(row)
    return rows


def run(query: Query | str, events: list[Event], limit: int | None = None, start: int | None = None,
        end: int | None = None) -> Result:
    """Evaluate the query over the events of the query's log groups; start/end are StartQuery's epoch seconds, both
    inclusive (so the end second's events count)."""
    if isinstance(query, str):
        query = parse(query)
    if start is not None:
        events = [e for e in events if e.timestamp >= start * 1000]
    if end is not None:
        events = [e for e in events if e.timestamp < (end + 1) * 1000]
    records = [_record(e) for e in sorted(events, key=lambda e: e.timestamp, reverse=True)]
    scanned, scanned_bytes = len(records), sum(len(e.message.encode()) for e in events)
    shown: list[str] = []  # output fields, in order, for event rows
    listed_fields = False
    matched = None
    limited = False
    for cmd in query.commands:
        if isinstance(cmd, Fields):
            listed_fields = True
            for record in records:
                for source, alias in cmd.items:
                    if alias != source and record.get(source) is not None:
                        record[alias] = record[source]
            shown += [alias for _, alias in cmd.items if alias not in shown]
        elif isinstance(cmd, Filter):
            records = [r for r in records if _evaluate(cmd.expression, r)]
        elif isinstance(cmd, Parse):
            for record in records:
                value = record.get(cmd.source)
                m = cmd.pattern.search(_text(value)) if value is not None else None
                if m:
                    found = [m.group(n) for n in cmd.names] if cmd.pattern.groupindex else m.groups()
                    record.update({n: v for n, v in zip(cmd.names, found, strict=True) if v is not None})
            shown += [n for n in cmd.names if n not in shown]
        elif isinstance(cmd, Stats):
            matched = len(records) if matched is None else matched
            records = _stats_rows(cmd, records)
            shown = [g.name for g in cmd.groups] + [a.name for a in cmd.aggregates]
            listed_fields = True
        elif isinstance(cmd, Sort):
            records = _sorted(records, cmd.keys)
        elif isinstance(cmd, Limit):
            matched = len(records) if matched is None else matched
            records = records[:cmd.count]
            limited = True
        elif isinstance(cmd, Display):
            shown = list(cmd.names)
            listed_fields = True
    if matched is None:
        matched = len(records)
    if not limited:
        records = records[:limit or DEFAULT_LIMIT]
    if not listed_fields:
        shown = ["@timestamp", "@message"] + [n for n in shown if n not in ("@timestamp", "@message")]
    stats = query.is_stats
    rows = []
    for record in records:
        row = [{"field": name, "value": _shown(record[name])} for name in shown if record.get(name) is not None]
        if not stats:
            row.append({"field": "@ptr", "value": record["@ptr"]})
        rows.append(row)
    return Result(rows, matched, scanned, scanned_bytes)


def _shown(value) -> str:
    return format_timestamp(value) if isinstance(value, _Time) else _text(value)
