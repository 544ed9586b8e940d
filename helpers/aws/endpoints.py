"""VPC endpoints as they are, for the modules that list them (the network, tag discovery, scenarios): its own module
so that `network` and `tags` need not import each other."""

from __future__ import annotations

from helpers.aws import cloud


def live_endpoints(filters: list[dict]) -> list[dict]:
    """VPC endpoints matching EC2 filters, without deleted ones (EC2 keeps listing those, state "deleted", a while)."""
    found = cloud.client("ec2").describe_vpc_endpoints(Filters=filters)["VpcEndpoints"]
    return [e for e in found if e.get("State", "available").lower() not in ("deleted", "deleting")]
