"""The network an MWAA environment needs: a VPC with two private subnets in different AZs, a self-referencing
security group (MWAA's components talk to each other through it), and, since private subnets have no route to the
internet, the VPC endpoints through which the environment reaches the AWS services it uses."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

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


# What an environment in private subnets reaches through VPC endpoints (MWAA user guide, "Creating the required VPC
# service endpoints in an Amazon VPC with private routing"): S3 through a gateway endpoint, the rest through interface
# endpoints. airflow.api/env/ops are MWAA's own APIs (environment management, tokens, health metrics).
GATEWAY_SERVICES = ("s3",)
INTERFACE_SERVICES = ("sqs", "logs", "monitoring", "kms", "ecr.api", "ecr.dkr", "airflow.api", "airflow.env", "airflow.ops")


def service_name(service: str) -> str:
    return f"com.amazonaws.{cloud.settings().region}.{service}"


def create_service_endpoints(net: Network, notebook: str) -> list[dict]:
    """The VPC endpoints an MWAA environment in `net` needs, created where missing. Returns what was created.

    Interface endpoints go in both subnets behind the environment's own security group (it admits its members, so
    the environment reaches them on 443); the S3 gateway endpoint goes on the subnets' route tables.
    """
    ec2 = cloud.client("ec2")
    # Interface endpoints with private DNS answer for the services' usual names only in a VPC with DNS hostnames.
    ec2.modify_vpc_attribute(VpcId=net.vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=net.vpc_id, EnableDnsHostnames={"Value": True})
    present = {e["ServiceName"] for e in live_endpoints([{"Name": "vpc-id", "Values": [net.vpc_id]}])}
    tables = sorted({table["RouteTableId"] for table in _subnet_tables(net).values()})
    created = []
    for service in (*GATEWAY_SERVICES, *INTERFACE_SERVICES):
        if service_name(service) in present:
            continue
        spec = _spec("vpc-endpoint", notebook, f"mwaa-workbook-{notebook}-{service}")
        if service in GATEWAY_SERVICES:
            request = {"VpcEndpointType": "Gateway", "RouteTableIds": tables}
        else:
            request = {"VpcEndpointType": "Interface", "SubnetIds": net.subnet_ids, "SecurityGroupIds": net.security_group_ids,
                       "PrivateDnsEnabled": True}
        created.append(ec2.create_vpc_endpoint(VpcId=net.vpc_id, ServiceName=service_name(service), TagSpecifications=spec,
                                               **request)["VpcEndpoint"])
    return created


def _subnet_tables(net: Network) -> dict[str, dict]:
    """The route table each subnet uses: its explicitly associated one, or else the VPC's main table."""
    tables = cloud.client("ec2").describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [net.vpc_id]}])["RouteTables"]
    main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), {"RouteTableId": None, "Routes": []})
    return {subnet: next((t for t in tables if any(a.get("SubnetId") == subnet for a in t.get("Associations", []))), main)
            for subnet in net.subnet_ids}


def routes_out(net: Network) -> dict[str, list[dict]]:
    """Each subnet's 0.0.0.0/0 routes (to an internet gateway, a NAT gateway...) in the route table it uses."""
    return {subnet: [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
            for subnet, table in _subnet_tables(net).items()}


def endpoint_coverage(net: Network) -> pd.DataFrame:
    """One row per AWS service with an endpoint in the VPC: its type, and whether both subnets reach it (an interface
    endpoint in each subnet, or a gateway endpoint on the route tables the subnets use)."""
    used = {table["RouteTableId"] for table in _subnet_tables(net).values()}
    rows = []
    for endpoint in live_endpoints([{"Name": "vpc-id", "Values": [net.vpc_id]}]):
        if endpoint["VpcEndpointType"] == "Gateway":
            both = used <= set(endpoint.get("RouteTableIds", []))
        else:
            both = set(net.subnet_ids) <= set(endpoint.get("SubnetIds", []))
        rows.append({"service": endpoint["ServiceName"].removeprefix(service_name("")), "type": endpoint["VpcEndpointType"],
                     "both_subnets": both})
    return pd.DataFrame(rows, columns=["service", "type", "both_subnets"]).sort_values(["type", "service"]).reset_index(drop=True)


def live_endpoints(filters: list[dict]) -> list[dict]:
    """VPC endpoints matching EC2 filters, without deleted ones (EC2 keeps listing those, state "deleted", a while)."""
    found = cloud.client("ec2").describe_vpc_endpoints(Filters=filters)["VpcEndpoints"]
    return [e for e in found if e.get("State", "available").lower() not in ("deleted", "deleting")]


def endpoint_deleted(endpoint_id: str) -> bool:
    """True once EC2 no longer has the endpoint, or lists it as deleted."""
    import botocore.exceptions

    try:
        found = cloud.client("ec2").describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    except botocore.exceptions.ClientError as exc:
        if "NotFound" in exc.response["Error"]["Code"]:
            return True
        raise
    return all(e.get("State", "").lower() == "deleted" for e in found)


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
