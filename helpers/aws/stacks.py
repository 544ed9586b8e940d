"""CloudFormation stacks from the templates kept in helpers/aws/cloudformation/, deployed with the target's API."""

from __future__ import annotations

import botocore.exceptions
import pandas as pd

from helpers.aws import cloud
from helpers.aws.tags import tag_list
from helpers.errors import WorkbookError
from helpers.paths import REPO_ROOT
from helpers.procs import wait_until

TEMPLATES = REPO_ROOT / "helpers" / "aws" / "cloudformation"


def _status(name: str) -> str | None:
    try:
        return cloud.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except botocore.exceptions.ClientError as exc:
        if "does not exist" in exc.response["Error"]["Message"]:
            return None
        raise


def deploy(name: str, template: str, notebook: str, parameters: dict | None = None, timeout: float = 900) -> dict:
    """Create the stack (or reuse it when it exists) and return its outputs."""
    cfn = cloud.client("cloudformation")
    if _status(name) is None:
        cfn.create_stack(StackName=name, TemplateBody=(TEMPLATES / template).read_text(), Tags=tag_list(notebook),
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()])
    wait_until(lambda: _status(name) not in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"), timeout, f"stack {name}", interval=2)
    if (status := _status(name)) not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise WorkbookError(f"Stack {name} is {status}: see its events in the CloudFormation console, then delete it.")
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def exists(name: str) -> bool:
    return _status(name) not in (None, "DELETE_COMPLETE")


def resources(name: str) -> pd.DataFrame:
    found = cloud.client("cloudformation").describe_stack_resources(StackName=name)["StackResources"]
    return pd.DataFrame([{"logical_id": r["LogicalResourceId"], "type": r["ResourceType"], "status": r["ResourceStatus"]}
                         for r in found]).sort_values("logical_id").reset_index(drop=True)


def delete(name: str, timeout: float = 900) -> bool:
    if _status(name) is None:
        return False
    cloud.client("cloudformation").delete_stack(StackName=name)
    wait_until(lambda: _status(name) in (None, "DELETE_COMPLETE"), timeout, f"stack {name} deleted", interval=2)
    return True
