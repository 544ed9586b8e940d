"""helpers/'s layout holds (see helpers/__init__.py): no import cycle, no layer importing a higher one, and the
repository naming modules by their real paths (the facade's short names are for notebooks)."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

import helpers
from helpers.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "helpers"
CORE = {"errors", "config", "paths", "progress", "procs", "versions"}
# The local cloud's server side: the processes `python -m helpers.localcloud up` starts (gateway, emulators, Airflow
# runtimes, Snowflake), which must not pull in the client side (config, boto3 clients, the services' lifecycle).
SERVERS = ("helpers.localcloud.processes", "helpers.localcloud.snowflake_trust", "helpers.localcloud.gateway",
           "helpers.localcloud.snowflake_server", "helpers.localcloud.emulators")
# What each layer may import besides itself: layer names, or single modules.
MAY_IMPORT = {
    "facade": {"helpers.errors"},  # `import helpers` must stay cheap: the servers do it
    "core": set(),
    "localcloud servers": {"helpers.errors", "helpers.paths"},
    "localcloud": {"core", "localcloud servers"},
    "aws": {"core", "localcloud", "localcloud servers"},
    "samples": {"core"},
    "tooling": {"core", "localcloud", "localcloud servers", "aws"},
    "dagtools": {"core", "localcloud", "aws", "tooling"},
    "chapters": {"core", "localcloud", "aws", "samples", "tooling", "dagtools"},
    "testkit": {"core", "localcloud", "tooling"},
}
EXCEPTIONS = {
    ("helpers.procs", "helpers.localcloud.processes"): "procs is the client side's face of the process primitives the servers share",
}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


REAL = modules()


def _is_package(name: str) -> bool:
    return REAL.get(name, Path()).name == "__init__.py"


def imports(name: str, path: Path) -> set[str]:
    """The helpers modules `name` imports, at module level or inside functions (`from p import x` is module p.x when
    that exists, else p)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name if _is_package(name) else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}".rstrip(".")
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in REAL else base for a in node.names)
    return {m for m in found if m.split(".")[0] == "helpers" and m != name}


@functools.cache
def graph() -> dict[str, set[str]]:
    return {name: imports(name, path) for name, path in REAL.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a set of modules importing each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    if module == "helpers":
        return "facade"
    if parts[1] in CORE:
        return "core"
    if parts[1] == "localcloud":
        return "localcloud servers" if module.startswith(SERVERS) else "localcloud"
    return parts[1]


def allowed(importer: str, imported: str) -> bool:
    if (importer, imported) in EXCEPTIONS:
        return True
    mine, theirs = layer(importer), layer(imported)
    return mine == theirs or theirs in MAY_IMPORT[mine] or imported in MAY_IMPORT[mine]


def test_helpers_has_no_import_cycle():
    assert cycles(graph()) == []


def test_cycles_are_found():
    # the two the layout removed: a module-level import one way, a function-level one back
    assert cycles({"a.network": {"a.tags"}, "a.tags": {"a.network"}, "a.cloud": set()}) == [["a.network", "a.tags"]]
    assert cycles({"p": {"p.services"}, "p.services": {"p.snowflake"}, "p.snowflake": {"p"}}) == [["p", "p.services", "p.snowflake"]]
    assert imports("helpers.aws.tags", REAL["helpers.aws.tags"]) >= {"helpers.aws.cloud", "helpers.aws.network"}
    function_level = imports("helpers.dagtools.dag_figures", REAL["helpers.dagtools.dag_figures"])
    assert "helpers.tooling.charts" in function_level and "helpers.dagtools.airflow_local" in function_level


def test_every_module_is_in_a_layer():
    assert {layer(m) for m in REAL} == set(MAY_IMPORT)


def test_no_layer_imports_a_higher_one():
    wrong = [f"{a} ({layer(a)}) imports {b} ({layer(b)})" for a, found in graph().items() for b in sorted(found)
             if b in REAL and not allowed(a, b)]
    assert wrong == []


@pytest.mark.parametrize(("importer", "imported"), [
    ("helpers.aws.mwaa", "helpers.chapters.shared_vpc.scenario"),  # core <- aws <- chapters
    ("helpers.errors", "helpers.aws.cloud"),
    ("helpers.localcloud.emulators.mwaa.runtime", "helpers.config"),  # a server reading the client's settings
    ("helpers.localcloud.gateway", "helpers.procs"),
    ("helpers.localcloud.services", "helpers.aws.cloud"),
    ("helpers.samples.citibike", "helpers.aws.s3"),
    ("helpers.tooling.charts", "helpers.chapters.snowflake.scenario"),
    ("helpers", "helpers.aws.mwaa"),
])
def test_the_layer_rule_refuses(importer, imported):
    assert not allowed(importer, imported)


SHORT_NAME = re.compile(rf"\bhelpers\.({'|'.join(helpers.MODULES)})\b")
FACADE_USERS = {PACKAGE / "__init__.py", Path(__file__).with_name("test_notebook_imports.py")}


def _text_files() -> list[Path]:
    code = [*PACKAGE.rglob("*.py"), *(REPO_ROOT / "tests").rglob("*.py"), REPO_ROOT / "conftest.py", *(REPO_ROOT / "dags").rglob("*.py")]
    docs = ["README.md", "Makefile", "environment.yml", "pyproject.toml", ".ci/run", "tests/notebook_budgets.toml"]
    return [p for p in code if p not in FACADE_USERS] + [REPO_ROOT / d for d in docs if (REPO_ROOT / d).exists()]


def test_the_repository_names_modules_by_their_real_paths():
    """Imports, `python -m` targets, monkeypatch strings and docs: a short name there would work through the facade and
    hide where the module is."""
    found = [f"{p.relative_to(REPO_ROOT)}:{n}: {line.strip()}" for p in _text_files()
             for n, line in enumerate(p.read_text().splitlines(), 1) if SHORT_NAME.search(line)]
    for path in (p for p in _text_files() if p.suffix == ".py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "helpers":
                found += [f"{path.relative_to(REPO_ROOT)}:{node.lineno}: from helpers import {a.name} "
                          f"(it is {helpers.MODULES[a.name]})" for a in node.names if a.name in helpers.MODULES]
    assert found == [], "name the module's real path: helpers.MODULES says where each short name lives"


def test_module_paths_in_commands_and_docs_exist():
    """`python -m` targets anywhere, and paths under helpers/ in the docs, name modules and files that exist."""
    dotted = re.compile(r"-m (helpers(?:\.\w+)*)")
    slashed = re.compile(r"\bhelpers/[\w/.-]*\w")
    missing = []
    for path in _text_files():
        text = path.read_text()
        missing += [f"{path.name}: -m {m}" for m in dotted.findall(text) if m not in REAL]
        missing += [f"{path.name}: {m}" for m in slashed.findall(text) if not (REPO_ROOT / m).exists()]
    assert missing == []
