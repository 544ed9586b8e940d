"""The tags on everything the workbook creates, so clean-up can find it on any target. A module of its own, below
`tags` (which also finds tagged resources, through `network`): `network` tags what it creates without importing `tags`."""

from __future__ import annotations

WORKBOOK_TAG = "workbook"
WORKBOOK_VALUE = "mwaa-workbook"
NOTEBOOK_TAG = "workbook:notebook"


def tags(notebook: str) -> dict[str, str]:
    return {WORKBOOK_TAG: WORKBOOK_VALUE, NOTEBOOK_TAG: notebook}


def tag_list(notebook: str) -> list[dict[str, str]]:
    """The same tags in the Key/Value list form most AWS APIs take."""
    return [{"Key": k, "Value": v} for k, v in tags(notebook).items()]
