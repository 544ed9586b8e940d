"""One exception type for everything a learner can fix, shown as one line instead of a traceback wall."""

from __future__ import annotations


class WorkbookError(Exception):
    """A problem the learner can fix; the message says what to do."""


class NotebookStopped(WorkbookError):
    """The rest of a notebook cannot run on this target (e.g. no Snowflake account on `aws`): a clean stop, not a
    failure. The headless run reports the notebook as `stopped`."""


def _one_line(shell, etype, value, tb, tb_offset=None):  # IPython's custom-exception signature
    # Published as the cell's error output (ipykernel's _showtraceback), so the cell still counts as failed
    # for papermill and nbval; IPython itself ignores what a custom handler returns.
    stb = [f"{type(value).__name__}: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


def show_errors_as_one_line() -> None:
    """In a notebook, show WorkbookError as its message only; the cell still fails (papermill sees it)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is always installed in the workbook env
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((WorkbookError,), _one_line)
