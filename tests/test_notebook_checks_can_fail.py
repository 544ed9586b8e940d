"""The notebook layer of the tests must be able to fail: probe notebooks with known defects go through what
tests/test_notebooks.py uses (the headless runner, its stderr rule, the comparison with committed outputs and
its sanitizer), and each defect must fail."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from helpers.paths import BUILD_DIR
from helpers.testkit.compare import compare
from helpers.tooling.notebooks import KERNEL_NAME
from helpers.tooling.runner import run_notebook

PROBES = BUILD_DIR / "probe"


def _cell(source, count, checked=False, expected=None):
    cell = new_code_cell(source, execution_count=count, metadata={"tags": ["nbval-check-output"]} if checked else {})
    cell.outputs = [new_output("stream", name="stdout", text=expected)] if expected else []
    return cell


def _probe(name: str, *cells) -> tuple[dict, object]:
    PROBES.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(metadata={"kernelspec": {"name": KERNEL_NAME, "display_name": "x", "language": "python"}})
    nb.cells = list(cells)
    source = PROBES / f"{name}.ipynb"
    nbformat.write(nb, source)
    output = PROBES / f"{name}.executed.ipynb"
    return run_notebook(name, timeout=120, output=output, source=source), (output, source)


def test_a_changed_output_fails_and_sanitized_ports_and_times_do_not():
    row, (executed, committed) = _probe(
        "probe_mismatch",
        _cell("print('port 127.0.0.1:5555 took 1.5 s')", 1, checked=True, expected="port 127.0.0.1:80 took 9 s\n"),
        _cell("print('hello')", 2, checked=True, expected="goodbye\n"),
        _cell("print('not compared')", 3, expected="anything\n"))
    assert row["status"] == "ok", row
    mismatches = compare(executed, committed)
    assert [m.cell for m in mismatches] == [1], mismatches
    assert mismatches[0].expected == "goodbye\n" and mismatches[0].got == "hello\n"


@pytest.mark.parametrize(("source", "expected"), [
    ("raise ValueError('boom')", "ValueError: boom"),
    ("import sys; print('careful', file=sys.stderr)", "stderr output (1): cell 0: careful"),
    ("from helpers.errors import WorkbookError, show_errors_as_one_line\n"
     "show_errors_as_one_line()\nraise WorkbookError('start the local cloud')", "WorkbookError: start the local cloud"),
], ids=["error", "stderr", "workbook-error"])
def test_an_error_or_stderr_fails_the_notebook(source, expected):
    row, _ = _probe("probe_failure", _cell(source, 1))
    assert row["status"] == "failed" and expected in row["error"], row
