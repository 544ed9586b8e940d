"""Every import in the notebooks' code cells works as the notebook writes it, and every attribute the notebook then
uses on an imported module exists: notebooks are not edited when helpers/ is reorganised, the facade
(`helpers.MODULES`) keeps their short names working. Read from the .ipynb files, so new imports are checked too."""

from __future__ import annotations

import ast
import json
import runpy
import sys
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

import helpers
from helpers.paths import NOTEBOOKS_DIR, REPO_ROOT

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def _code(path: Path) -> ast.Module:
    """The notebook's code cells as one module (IPython syntax such as %magics made plain Python first)."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    body = [ast.parse(TransformerManager().transform_cell("".join(c["source"]))) for c in cells]
    return ast.Module(body=[stmt for module in body for stmt in module.body], type_ignores=[])


def helpers_imports(path: Path) -> list[ast.stmt]:
    def of_helpers(node: ast.AST) -> bool:
        if isinstance(node, ast.ImportFrom):
            return node.level == 0 and (node.module or "").split(".")[0] == "helpers"
        return isinstance(node, ast.Import) and any(a.name.split(".")[0] == "helpers" for a in node.names)

    return [node for node in ast.walk(_code(path)) if of_helpers(node)]


def attributes_used(path: Path, name: str) -> set[str]:
    """`x` of every `name.x` in the notebook's code."""
    return {node.attr for node in ast.walk(_code(path))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_helpers_import_in_the_notebook_works(path):
    imports = helpers_imports(path)
    assert imports, f"{path.name} imports nothing from helpers: the parser is broken"
    for node in imports:
        namespace: dict = {}
        statement = ast.unparse(node)
        exec(compile(ast.Module(body=[node], type_ignores=[]), path.name, "exec"), namespace)
        for bound, value in namespace.items():
            if bound == "__builtins__" or not hasattr(value, "__name__"):
                continue
            # not another checkout's copy (an editable install of one answers for names this one lacks)
            assert Path(value.__file__).is_relative_to(REPO_ROOT / "helpers"), f"{statement} gives {value.__file__}"
            missing = sorted(a for a in attributes_used(path, bound) if not hasattr(value, a))
            assert not missing, f"{path.name}: `{statement}` gives {value.__name__}, which has no {', '.join(missing)}"


def test_a_name_missing_from_the_facade_fails_the_notebooks_import(monkeypatch):
    used = {a.name for p in NOTEBOOKS for node in helpers_imports(p) if isinstance(node, ast.ImportFrom)
            and node.module == "helpers" for a in node.names}
    assert "shared_vpc" in used and "lambda_functions" in helpers.MODULES
    # An editable install of another checkout (a git worktree's venv) would answer for the missing names.
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")])
    for name in ("shared_vpc", "lambda_functions"):
        monkeypatch.delitem(helpers.MODULES, name)
        monkeypatch.delattr(helpers, name, raising=False)  # bound by an earlier dotted import
        monkeypatch.delitem(sys.modules, f"helpers.{name}", raising=False)
    with pytest.raises(ImportError, match="cannot import name 'shared_vpc'"):
        exec("from helpers import shared_vpc", {})
    with pytest.raises(ModuleNotFoundError, match="No module named 'helpers.lambda_functions'"):
        exec("from helpers.lambda_functions import mwaa_endpoint_automation", {})


def test_old_dotted_paths_are_the_moved_modules_not_copies():
    import helpers.lambda_functions.mwaa_endpoint_automation as old
    import helpers.mwaa

    import helpers.aws.mwaa
    import helpers.chapters.shared_vpc.mwaa_endpoint_automation as real

    assert old is real and helpers.mwaa is helpers.aws.mwaa and sys.modules["helpers.mwaa"] is helpers.aws.mwaa
    assert real.__spec__.name == "helpers.chapters.shared_vpc.mwaa_endpoint_automation"  # not the short name's spec


def test_python_m_with_an_old_name_runs_the_moved_module(monkeypatch, capsys):
    """Commands typed for months (`python -m helpers.notebooks accept`, `... helpers.runner`) still run: runpy finds
    and runs a module as `python -m` does (here in-process, since a new interpreter is seconds on a busy machine)."""
    monkeypatch.setattr(sys, "argv", ["helpers.notebooks", "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("helpers.notebooks", run_name="__main__", alter_sys=True)
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m helpers.tooling.notebooks")
