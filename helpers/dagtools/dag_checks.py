"""Static checks for DAG files: what MWAA's scheduler would suffer from at parse time."""

from __future__ import annotations

import ast

# Calls that reach the metadata DB or a secrets backend. At parse time they run on every parse of the
# file (every 30 s by default on MWAA), costing latency and, with Secrets Manager, money.
_LOOKUPS = {("Variable", "get"), ("Variable", "set"), ("Connection", "get"), ("Connection", "get_connection_from_secrets"),
            ("BaseHook", "get_connection"), ("Variable", "get_variable_from_secrets")}


def _decorator_names(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = set()
    for deco in func.decorator_list:
        node = deco.func if isinstance(deco, ast.Call) else deco
        names.add(node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", ""))
    return names


def parse_time_lookups(source: str, filename: str = "<dag>") -> list[str]:
    """Variable/Connection lookups that run when the file is parsed: at module level or in a @dag body.

    Calls inside tasks (or any other function) run only when a task runs, which is the right place.
    """
    found: list[str] = []

    def visit(node: ast.AST, parse_time: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            # The body of a @dag function runs at parse time; any other function body does not.
            parse_time = parse_time and "dag" in _decorator_names(node)
        elif isinstance(node, ast.Lambda):
            parse_time = False
        elif (parse_time and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in _LOOKUPS):
            found.append(f"{filename}:{node.lineno}: {node.func.value.id}.{node.func.attr}() runs at parse time")
        for child in ast.iter_child_nodes(node):
            visit(child, parse_time)

    visit(ast.parse(source, filename), True)
    return found
