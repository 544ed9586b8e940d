"""The network an MWAA environment needs: a VPC with two private subnets in different AZs and a
self-referencing security group (MWAA's components talk to each other through it)."""

from __future__ import annotations

from dataclasses import dataclass

from helpers.aws import cloud
from helpers.aws.workbook_tags import tag_list


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnet_ids: list[str]
    security_group_ids: list[str]


def _spec(kind: str, notebook: str, name: str) -> list[dict]:
    return [{"ResourceType": kind, "Tags": [*tag_list(notebook), {"Key": "Name", "Value": name}]}]


def find_network(notebook: str) -> Network | None:
    """The network a notebook made earlier (found by its tags), so re-running reuses it."""
    ec2 = cloud.client("ec2")
    flt = [{"Name": "tag:workbook:notebook", "Values": [notebook]}]
    vpcs = ec2.describe_vpcs(Filters=flt)["Vpcs"]
    if not vpcs:
        return None
    vpc = vpcs[0]["VpcId"]
    in_vpc = [*flt, {"Name": "vpc-id", "Values": [vpc]}]
    subnets = sorted(s["SubnetId"] for s in ec2.describe_subnets(Filters=in_vpc)["Subnets"])
    groups = sorted(g["GroupId"] for g in ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"])
    return Network(vpc, subnets, groups) if len(subnets) == 2 and groups else None


def create_private_network(notebook: str, cidr: str = "10.192.0.0/16") -> Network:
    """Create (or reuse) the VPC, two private subnets in the first two AZs, and the security group."""
    if (existing := find_network(notebook)):
        return existing
    ec2 = cloud.client("ec2")
    name = f"mwaa-workbook-{notebook}"
    vpc = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=_spec("vpc", notebook, name))["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    base = cidr.split(".")[:2]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base[0]}.{base[1]}.{10 + i}.0/24", AvailabilityZone=zone,
                                 TagSpecifications=_spec("subnet", notebook, f"{name}-private-{i + 1}"))["Subnet"]["SubnetId"]
               for i, zone in enumerate(zones)]
    group = ec2.create_security_group(GroupName=f"{name}-sg", Description="MWAA environment (self-referencing)", VpcId=vpc,
                                      TagSpecifications=_spec("security-group", notebook, f"{name}-sg"))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group}]}])
    return Network(vpc, sorted(subnets), [group])


def live_endpoints(filters: list[dict]) -> list[dict]:
    """VPC endpoints matching EC2 filters, without deleted ones (EC2 keeps listing those, state "deleted", a while)."""
    found = cloud.client("ec2").describe_vpc_endpoints(Filters=filters)["VpcEndpoints"]
    return [e for e in found if e.get("State", "available").lower() not in ("deleted", "deleting")]


def delete_network(network: Network) -> None:
    ec2 = cloud.client("ec2")
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [network.vpc_id]}])["VpcEndpoints"]
    if endpoints:
        ec2.delete_vpc_endpoints(VpcEndpointIds=[e["VpcEndpointId"] for e in endpoints])
    for group in network.security_group_ids:
        ec2.delete_security_group(GroupId=group)
    for subnet in network.subnet_ids:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=network.vpc_id)
