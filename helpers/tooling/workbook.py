"""The one setup call at the top of every notebook."""

from __future__ import annotations

from helpers.aws import cloud
from helpers.errors import show_errors_as_one_line


def start(notebook: str) -> None:
    """One-line errors, the target ready (local cloud started if needed), and where calls go, printed."""
    show_errors_as_one_line()
    cloud.ensure_ready()
