"""Scenario 02: MWAA in a restricted (shared) VPC with customer-managed endpoints.

Who may do what is the point of the scenario: the endpoint-automation function holds the VPC endpoint
permissions, so the principal that creates environments does not need them. The notebook makes the calls
(roles, function, rule, CreateEnvironment, the policy simulation); this module keeps the plumbing: the network
stack, reading endpoints back, the re-delivered event, waiting for a new role, and the two figures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import botocore.exceptions
import pandas as pd

from helpers.aws import cloud, mwaa, network, stacks

NOTEBOOK = "02_shared_vpc"
STACK = "mwaa-workbook-02-cfn-vpc-private"
FUNCTION = "mwaa-workbook-02-endpoint-automation"
RULE = "mwaa-workbook-02-mwaa-create"
FUNCTION_ROLE = f"{FUNCTION}-role"
CREATOR_ROLE = "mwaa-workbook-02-environment-creator"
FUNCTION_MODULE = "helpers.chapters.shared_vpc.mwaa_endpoint_automation"


def sqs_policy(endpoint_id: str) -> dict:
    """The endpoint's policy, as EC2 stores it now."""
    found = cloud.client("ec2").describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    return json.loads(found["PolicyDocument"])


def endpoints(vpc_id: str) -> list[dict]:
    return network.live_endpoints([{"Name": "vpc-id", "Values": [vpc_id]}])


def pending_event(name: str) -> dict:
    """The PENDING status event MWAA sent for an environment, rebuilt from GetEnvironment (for re-delivery)."""
    env = mwaa.describe(name)
    detail = {"name": name, "status": "PENDING", "webserverAccessMode": env["WebserverAccessMode"],
              "celeryExecutorQueue": env["CeleryExecutorQueue"], "databaseVpcEndpointService": env["DatabaseVpcEndpointService"],
              "networkConfiguration": {"subnetIds": env["NetworkConfiguration"]["SubnetIds"],
                                       "securityGroupIds": env["NetworkConfiguration"]["SecurityGroupIds"]}}
    if env.get("WebserverVpcEndpointService"):
        detail["webserverVpcEndpointService"] = env["WebserverVpcEndpointService"]
    return {"source": "aws.airflow", "detail-type": "MWAA Environment Status Change", "resources": [env["Arn"]],
            "detail": detail}


def endpoint_table(vpc_id: str) -> pd.DataFrame:
    """The VPC's endpoints, named by what they serve (MWAA's service names are per environment)."""
    services = {}
    for name in mwaa.workbook_environments():
        env = mwaa.describe(name)
        services[env["DatabaseVpcEndpointService"]] = f"{name} database"
        if env.get("WebserverVpcEndpointService"):
            services[env["WebserverVpcEndpointService"]] = f"{name} webserver"
    rows = [{"serves": services.get(e["ServiceName"], e["ServiceName"].rsplit(".", 1)[-1]), "type": e["VpcEndpointType"],
             "created_by": {t["Key"]: t["Value"] for t in e.get("Tags", [])}.get("managed-by", "stack")}
            for e in endpoints(vpc_id)]
    return pd.DataFrame(rows, columns=["serves", "type", "created_by"]).sort_values(["created_by", "serves"]).reset_index(drop=True)


def deploy_network() -> dict:
    return stacks.deploy(STACK, "cfn-vpc-private.yaml", NOTEBOOK)


def once_role_is_assumable(call: Callable[[], dict], timeout: float = 60) -> dict:
    """Run `call` (e.g. CreateFunction with a role created seconds ago), retrying while IAM has not yet propagated the
    new role to Lambda ("The role defined for the function cannot be assumed by Lambda"), as on AWS it may not have."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except botocore.exceptions.ClientError as exc:
            error = exc.response["Error"]
            if error["Code"] != "InvalidParameterValueException" or "cannot be assumed" not in error.get("Message", "") \
                    or time.monotonic() > deadline:
                raise
            time.sleep(3)


def endpoint_created(vpc_id: str, service: str) -> datetime:
    """When the VPC's (live) endpoint to `service` was created (EC2's CreationTimestamp)."""
    found = network.live_endpoints([{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "service-name", "Values": [service]}])
    if not found:
        from helpers.errors import WorkbookError

        raise WorkbookError(f"No endpoint to {service} in {vpc_id}: did the function run? See lambdas.log_lines(FUNCTION).")
    return found[0]["CreationTimestamp"]


# --- figures ------------------------------------------------------------------------------------------------

STATUS_COLOURS = {"CREATING": "#5dade2", "PENDING": "#f5b041", "AVAILABLE": "#58d68d", "UPDATING": "#af7ac5",
                  "CREATE_FAILED": "#ec7063"}
STACK_COLOUR, FUNCTION_COLOUR, MWAA_COLOUR = "#d6eaf8", "#fdebd0", "#d5f5e3"


def _box(ax, x: float, y: float, w: float, h: float, text: str, colour: str, size: float = 8, weight: str = "normal",
         top: bool = False, edge: str = "#34495e") -> None:
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08", facecolor=colour,
                                edgecolor=edge, linewidth=1))
    ax.text(x + w / 2, y + h - 0.12 if top else y + h / 2, text, ha="center", va="top" if top else "center", fontsize=size,
            weight=weight)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], text: str = "", colour: str = "#2c3e50",
           style: str = "-|>", rad: float = 0.0, dashed: bool = False, at: float = 0.5, offset: tuple[float, float] = (0, 0.12)):
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": style, "color": colour, "lw": 1.3,
                                                     "linestyle": "--" if dashed else "-",
                                                     "connectionstyle": f"arc3,rad={rad}"})
    if text:
        x, y = start[0] + (end[0] - start[0]) * at + offset[0], start[1] + (end[1] - start[1]) * at + offset[1]
        ax.text(x, y, text, ha="center", va="bottom", fontsize=7, color=colour, style="italic")


def architecture(name: str = "02_shared_vpc_architecture") -> Path:
    """The article's architecture: the owner account's shared VPC, its endpoints, the rule and the function; the
    participant's environment in the shared subnets; who creates which endpoint."""
    from helpers.tooling.charts import _save, plt

    fig, ax = plt.subplots(figsize=(12, 6.6))
    ax.set_xlim(0, 12)
    ax.set_ylim(0, 6.6)
    ax.axis("off")
    # the two accounts
    _box(ax, 0.1, 0.1, 7.95, 6.2, "Owner account (network team)", "#fbfcfc", size=10, weight="bold", top=True)
    _box(ax, 8.25, 0.1, 3.65, 6.2, "Participant account (data team)", "#fbfcfc", size=10, weight="bold", top=True)
    # the shared VPC, its subnets and endpoints
    _box(ax, 0.3, 0.3, 4.9, 5.4, "Shared VPC (CloudFormation stack)\nno route to the internet", "#f4f6f7", size=9, top=True)
    for i, az in enumerate("ab"):
        _box(ax, 0.5 + i * 2.35, 3.3, 2.2, 1.5, f"private subnet {i + 1} (AZ {az})\nshared through AWS RAM", "#ebedef",
             size=7.5, top=True)
        _box(ax, 0.7 + i * 2.35, 3.45, 1.8, 0.5, "MWAA scheduler and\nworkers (ENIs)", MWAA_COLOUR, size=7)
    for i, label in enumerate(["S3 (gateway)", "CloudWatch Logs", "SQS: its policy lists\neach Celery queue", "Monitoring", "KMS"]):
        _box(ax, 0.45 + (i % 3) * 1.6, 2.3 - (i // 3) * 0.75, 1.45, 0.6, label, STACK_COLOUR, size=7)
    _box(ax, 0.45, 0.45, 2.2, 0.65, "MWAA database endpoint\n(every environment)", FUNCTION_COLOUR, size=7)
    _box(ax, 2.85, 0.45, 2.2, 0.65, "MWAA web server endpoint\n(PRIVATE_ONLY only)", FUNCTION_COLOUR, size=7)
    # the automation
    _box(ax, 5.75, 4.3, 2.1, 0.9, "EventBridge rule\nsource: aws.airflow\nMWAA Environment\nStatus Change", "#e8daef", size=7)
    _box(ax, 5.75, 1.9, 2.1, 1.1, "Lambda function\nendpoint automation\nits role may\nCreate/ModifyVpcEndpoint",
         FUNCTION_COLOUR, size=7)
    _arrow(ax, (6.8, 4.3), (6.8, 3.0), "invokes it on\nevery event", offset=(0.5, 0.08))
    _arrow(ax, (5.75, 2.6), (5.05, 2.6), "ModifyVpc-\nEndpoint", colour="#a04000", offset=(-0.1, 0.02))
    for target in (1.55, 3.95):
        _arrow(ax, (5.75, 2.05), (target, 1.1), colour="#a04000", rad=-0.12)
    ax.text(4.4, 1.85, "CreateVpcEndpoint\n(on PENDING)", ha="center", va="center", fontsize=7, color="#a04000", style="italic")
    # the participant's side
    _box(ax, 8.45, 4.4, 3.25, 1.0, "environment creator role\nairflow:CreateEnvironment, iam:PassRole\n"
         "no ec2:CreateVpcEndpoint", "#fadbd8", size=7)
    _box(ax, 8.45, 2.1, 3.25, 1.5, "MWAA environment\nEndpointManagement=CUSTOMER\n\nservice VPC (AWS): metadata DB,\n"
         "web server, endpoint services", MWAA_COLOUR, size=7)
    _arrow(ax, (10.07, 4.4), (10.07, 3.6), "CreateEnvironment", offset=(0.75, -0.12))
    _arrow(ax, (8.75, 3.6), (7.85, 4.75), "status events\n(cross-account bus)", colour="#7d3c98", rad=-0.2, offset=(0.3, 0.12))
    _arrow(ax, (8.45, 3.2), (4.55, 3.95), "runs in the shared subnets", colour="#1e8449", dashed=True, at=0.45,
           offset=(0.0, 0.1))
    # legend
    for i, (label, colour) in enumerate([("created by the stack", STACK_COLOUR), ("created by the function", FUNCTION_COLOUR),
                                         ("MWAA", MWAA_COLOUR)]):
        _box(ax, 8.45, 1.2 - i * 0.4, 0.35, 0.28, "", colour)
        ax.text(8.9, 1.34 - i * 0.4, label, va="center", fontsize=7.5)
    ax.set_title("MWAA in a shared VPC with customer-managed endpoints", fontsize=11)
    return _save(fig, name)


def lifecycle(timelines: dict[str, tuple[list[tuple[float, str]], float]], name: str = "02_environment_lifecycle") -> Path:
    """Each environment's status over time from its recorded polls ((seconds, status) changes, the last one the final
    status), and a marker where the function created its endpoints (seconds on the same clock)."""
    from helpers.tooling.charts import _save, plt

    fig, ax = plt.subplots(figsize=(9, 1.4 + 0.9 * len(timelines)))
    seen = set()
    end = max(polls[-1][0] for polls, _ in timelines.values()) * 1.08 + 1
    for row, (polls, created) in enumerate(timelines.values()):
        for (start, status), (stop, _next) in zip(polls, [*polls[1:], (end, "")], strict=True):
            ax.barh(row, stop - start, left=start, height=0.5, color=STATUS_COLOURS.get(status, "#bdc3c7"),
                    edgecolor="white", label=status if status not in seen else None)
            seen.add(status)
        ax.plot([created, created], [row - 0.38, row + 0.38], color="#a04000", linewidth=2,
                label="endpoints created by the function" if row == 0 else None)
    ax.set_yticks(range(len(timelines)), list(timelines))
    ax.invert_yaxis()
    ax.set_xlim(0, end)
    ax.set_xlabel("seconds since CreateEnvironment (from GetEnvironment polls, one a second)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncols=4, fontsize=8, frameon=False)
    ax.set_title("PENDING until the customer-managed endpoints exist")
    return _save(fig, name)
