"""The notebook layer of the tests must be able to fail: a probe notebook with known defects is run under
the same pytest configuration (nbval, sanitizer, stderr rule) and each defect must fail its cell."""

from __future__ import annotations

import subprocess
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from helpers.paths import BUILD_DIR, REPO_ROOT


def _cell(source, count, checked=False, expected=None):
    cell = new_code_cell(source, execution_count=count, metadata={"tags": ["nbval-check-output"]} if checked else {})
    cell.outputs = [new_output("stream", name="stdout", text=expected)] if expected else []
    return cell


def test_mismatch_error_stderr_and_workbook_error_each_fail():
    probe = BUILD_DIR / "probe" / "probe_checks.ipynb"
    probe.parent.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(metadata={"kernelspec": {"name": "mwaa-workbook", "display_name": "x", "language": "python"}})
    nb.cells = [
        _cell("print('port 127.0.0.1:5555 took 1.5 s')", 1, checked=True, expected="port 127.0.0.1:80 took 9 s\n"),
        _cell("print('hello')", 2, checked=True, expected="goodbye\n"),
        _cell("raise ValueError('boom')", 3),
        _cell("import sys; print('careful', file=sys.stderr)", 4),
        _cell("from helpers.errors import WorkbookError, show_errors_as_one_line\n"
              "show_errors_as_one_line()\nraise WorkbookError('start the local cloud')", 5),
    ]
    nbformat.write(nb, probe)
    done = subprocess.run([sys.executable, "-m", "pytest", str(probe), "-q", "-p", "no:randomly", "-rf"],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    out = done.stdout
    assert "4 failed, 1 passed" in out, out[-3000:]
    assert "probe_checks.ipynb::Cell 0 -" not in out  # sanitized ports and times compare equal
    assert "wrote to stderr: careful" in out
    assert "WorkbookError: start the local cloud" in out
