"""Tags on everything the workbook creates (see `workbook_tags`), names made from them, and finding what carries them,
so clean-up can find it on any target."""

from __future__ import annotations

import pandas as pd

from helpers.aws import cloud
from helpers.aws.network import live_endpoints
from helpers.aws.workbook_tags import NOTEBOOK_TAG, WORKBOOK_TAG, WORKBOOK_VALUE, tag_list, tags

__all__ = ["NOTEBOOK_TAG", "WORKBOOK_TAG", "WORKBOOK_VALUE", "resource_name", "tag_list", "tagged_resources", "tags"]


def resource_name(notebook: str, kind: str) -> str:
    """A deterministic, globally unique-enough name: S3 bucket names are global on AWS."""
    number = notebook.split("_", 1)[0]
    return f"mwaa-workbook-{number}-{kind}-{cloud.account_id()}-{cloud.settings().region}"


def tagged_resources(notebook: str | None = None) -> pd.DataFrame:
    """Every resource carrying the workbook's tag (optionally one notebook's), as ARNs.

    The tagging API covers most services. IAM (roles, OIDC providers) is not among them (on AWS either), and the local cloud's
    tagging API misses VPC endpoints, EventBridge rules, CloudFormation stacks, EKS clusters and MWAA environments, so those
    are listed directly.
    """
    filters = [{"Key": WORKBOOK_TAG, "Values": [WORKBOOK_VALUE]}]
    if notebook:
        filters.append({"Key": NOTEBOOK_TAG, "Values": [notebook]})
    arns: set[str] = set()
    for page in cloud.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(TagFilters=filters):
        arns.update(r["ResourceARN"] for r in page["ResourceTagMappingList"])

    def ours(found: dict) -> bool:
        return found.get(WORKBOOK_TAG) == WORKBOOK_VALUE and (notebook is None or found.get(NOTEBOOK_TAG) == notebook)

    iam = cloud.client("iam")
    for page in iam.get_paginator("list_roles").paginate(PathPrefix="/mwaa-workbook/"):
        for role in page["Roles"]:
            if ours({t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}):
                arns.add(role["Arn"])
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        found = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=provider["Arn"])["Tags"]
        if ours({t["Key"]: t["Value"] for t in found}):
            arns.add(provider["Arn"])
    region, account = cloud.settings().region, cloud.account_id()
    ec2_filters = [{"Name": f"tag:{f['Key']}", "Values": f["Values"]} for f in filters]
    for endpoint in live_endpoints(ec2_filters):
        arns.add(f"arn:aws:ec2:{region}:{account}:vpc-endpoint/{endpoint['VpcEndpointId']}")
    for stack in cloud.client("cloudformation").describe_stacks()["Stacks"]:
        if stack["StackStatus"] != "DELETE_COMPLETE" and ours({t["Key"]: t["Value"] for t in stack.get("Tags", [])}):
            arns.add(stack["StackId"])
    events = cloud.client("events")
    for rule in events.list_rules()["Rules"]:
        if ours({t["Key"]: t["Value"] for t in events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"]}):
            arns.add(rule["Arn"])
    eks = cloud.client("eks")  # the local cloud's tagging API misses EKS clusters (their node groups go with them)
    for page in eks.get_paginator("list_clusters").paginate():
        for name in page["clusters"]:
            cluster = eks.describe_cluster(name=name)["cluster"]
            if ours(cluster.get("tags") or {}):
                arns.add(cluster["arn"])
    mwaa = cloud.client("mwaa")
    for name in mwaa.list_environments()["Environments"]:
        arn = f"arn:aws:airflow:{region}:{account}:environment/{name}"
        if ours(mwaa.list_tags_for_resource(ResourceArn=arn)["Tags"]):
            arns.add(arn)
    return pd.DataFrame({"arn": sorted(arns)}, dtype="str")
