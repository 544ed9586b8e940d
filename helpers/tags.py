"""Tags on everything the workbook creates, so clean-up can find it on any target."""

from __future__ import annotations

import pandas as pd

from helpers import cloud

WORKBOOK_TAG = "workbook"
WORKBOOK_VALUE = "mwaa-workbook"
NOTEBOOK_TAG = "workbook:notebook"


def tags(notebook: str) -> dict[str, str]:
    return {WORKBOOK_TAG: WORKBOOK_VALUE, NOTEBOOK_TAG: notebook}


def tag_list(notebook: str) -> list[dict[str, str]]:
    """The same tags in the Key/Value list form most AWS APIs take."""
    return [{"Key": k, "Value": v} for k, v in tags(notebook).items()]


def resource_name(notebook: str, kind: str) -> str:
    """A deterministic, globally unique-enough name: S3 bucket names are global on AWS."""
    number = notebook.split("_", 1)[0]
    return f"mwaa-workbook-{number}-{kind}-{cloud.account_id()}-{cloud.settings().region}"


def tagged_resources(notebook: str | None = None) -> pd.DataFrame:
    """Every resource carrying the workbook's tag (optionally one notebook's), as ARNs.

    The tagging API covers most services; IAM is not among them (on AWS either), so roles are listed separately.
    """
    filters = [{"Key": WORKBOOK_TAG, "Values": [WORKBOOK_VALUE]}]
    if notebook:
        filters.append({"Key": NOTEBOOK_TAG, "Values": [notebook]})
    arns = []
    for page in cloud.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(TagFilters=filters):
        arns += [r["ResourceARN"] for r in page["ResourceTagMappingList"]]
    iam = cloud.client("iam")
    for page in iam.get_paginator("list_roles").paginate(PathPrefix="/mwaa-workbook/"):
        for role in page["Roles"]:
            found = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}
            if found.get(WORKBOOK_TAG) == WORKBOOK_VALUE and (notebook is None or found.get(NOTEBOOK_TAG) == notebook):
                arns.append(role["Arn"])
    return pd.DataFrame({"arn": sorted(arns)}, dtype="str")
