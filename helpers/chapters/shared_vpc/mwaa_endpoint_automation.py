"""Creates the VPC endpoints an MWAA environment with customer-managed endpoints needs.

From "Introducing shared VPC support on Amazon MWAA", completed and corrected (the article's listing uses
undefined names and checks the first subnet twice). Triggered by EventBridge with the pattern
{"source": ["aws.airflow"], "detail-type": ["MWAA Environment Status Change"]}.

On PENDING it:
1. finds the VPC from the environment's subnets;
2. finds the VPC's SQS interface endpoint and adds the environment's Celery executor queue to its policy,
   unless the policy already allows that queue or "*";
3. creates the database endpoint and, for PRIVATE_ONLY web server access, the web server endpoint, in the
   environment's subnets and security groups, tagged.
Any other status is ignored. Idempotent: a re-delivered event creates nothing twice.

This file is deployed to Lambda unchanged; it needs only boto3 and the standard library.
"""

from __future__ import annotations

import json
import logging

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)

ENDPOINT_TAGS = {"workbook": "mwaa-workbook", "workbook:notebook": "02_shared_vpc", "managed-by": "mwaa-endpoint-automation"}


DEAD_STATES = ("deleted", "deleting", "failed", "rejected", "expired")


def _live(endpoints: list[dict]) -> list[dict]:
    # Deleted endpoints stay listed for a while (state "deleted"); they must not count.
    return [e for e in endpoints if e.get("State", "available").lower() not in DEAD_STATES]


class MalformedEvent(ValueError):
    """The event is not an MWAA status-change event with what this function needs."""


def _require(detail: dict, *path: str):
    value = detail
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise MalformedEvent(f"event detail has no {'.'.join(path)}")
        value = value[key]
    return value


def parse(event: dict) -> dict:
    """What the handler needs from the event, or MalformedEvent saying what is missing."""
    if not isinstance(event, dict) or not isinstance(event.get("detail"), dict):
        raise MalformedEvent("not an EventBridge event: no detail")
    detail = event["detail"]
    parsed = {"name": _require(detail, "name"), "status": _require(detail, "status")}
    if parsed["status"] != "PENDING":
        return parsed
    parsed.update({
        "queue_arn": _require(detail, "celeryExecutorQueue"),
        "database_service": _require(detail, "databaseVpcEndpointService"),
        "subnet_ids": _require(detail, "networkConfiguration", "subnetIds"),
        "security_group_ids": _require(detail, "networkConfiguration", "securityGroupIds"),
        "access_mode": _require(detail, "webserverAccessMode"),
        "webserver_service": detail.get("webserverVpcEndpointService"),
    })
    if not parsed["subnet_ids"]:
        raise MalformedEvent("event detail has no subnets")
    if parsed["access_mode"] == "PRIVATE_ONLY" and not parsed["webserver_service"]:
        raise MalformedEvent("PRIVATE_ONLY environment without webserverVpcEndpointService")
    return parsed


def allow_queue(ec2, vpc_id: str, queue_arn: str) -> str:
    """Add the queue to the VPC's SQS endpoint policy. Returns what was done."""
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                    {"Name": "service-name", "Values": ["*.sqs"]}])["VpcEndpoints"]
    endpoints = [e for e in _live(endpoints) if e["ServiceName"].endswith(".sqs")]
    if not endpoints:
        logger.warning("no SQS endpoint in %s: nothing to update", vpc_id)
        return "no SQS endpoint"
    endpoint = endpoints[0]
    policy = json.loads(endpoint.get("PolicyDocument") or '{"Statement": []}')
    allows = [s for s in policy.get("Statement", []) if s.get("Effect") == "Allow"]
    for statement in allows:
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if "*" in resources:
            logger.info("'*' already allowed on %s", endpoint["VpcEndpointId"])
            return "already allows *"
        if queue_arn in resources:
            logger.info("%s already allowed on %s", queue_arn, endpoint["VpcEndpointId"])
            return "queue already allowed"
    if allows:
        resources = allows[0].get("Resource", [])
        allows[0]["Resource"] = ([resources] if isinstance(resources, str) else list(resources)) + [queue_arn]
    else:
        policy.setdefault("Statement", []).append(
            {"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": [queue_arn]})
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], PolicyDocument=json.dumps(policy))
    logger.info("allowed %s on %s", queue_arn, endpoint["VpcEndpointId"])
    return "queue added"


def ensure_endpoint(ec2, vpc_id: str, service: str, subnet_ids: list, group_ids: list, name: str) -> tuple[str, bool]:
    """The interface endpoint to `service` in the VPC: (id, created now?). Never creates a second one."""
    existing = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                   {"Name": "service-name", "Values": [service]}])["VpcEndpoints"]
    live = _live(existing)
    if live:
        logger.info("endpoint to %s exists: %s", service, live[0]["VpcEndpointId"])
        return live[0]["VpcEndpointId"], False
    tags = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in ENDPOINT_TAGS.items()]
    created = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=vpc_id, ServiceName=service, SubnetIds=subnet_ids,
                                      SecurityGroupIds=group_ids, PrivateDnsEnabled=False,
                                      TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": tags}])["VpcEndpoint"]
    logger.info("created %s to %s", created["VpcEndpointId"], service)
    return created["VpcEndpointId"], True


def lambda_handler(event, context):
    try:
        parsed = parse(event)
    except MalformedEvent as exc:
        logger.error("ignored malformed event: %s", exc)
        return {"statusCode": 400, "body": json.dumps({"error": str(exc)})}
    if parsed["status"] != "PENDING":
        logger.info("%s is %s: nothing to do", parsed["name"], parsed["status"])
        return {"statusCode": 200, "body": json.dumps({"environment": parsed["name"], "status": parsed["status"],
                                                       "actions": []})}
    ec2 = boto3.client("ec2")
    # MWAA does not tell us the VPC; the subnets do.
    vpc_id = ec2.describe_subnets(SubnetIds=parsed["subnet_ids"])["Subnets"][0]["VpcId"]
    actions = [f"sqs policy: {allow_queue(ec2, vpc_id, parsed['queue_arn'])}"]
    services = [("database", parsed["database_service"])]
    if parsed["access_mode"] == "PRIVATE_ONLY":
        services.append(("webserver", parsed["webserver_service"]))
    for role, service in services:
        endpoint_id, created = ensure_endpoint(ec2, vpc_id, service, parsed["subnet_ids"], parsed["security_group_ids"],
                                               f"mwaa-{parsed['name']}-{role}")
        actions.append(f"{role} endpoint: {'created' if created else 'exists'}")
    return {"statusCode": 200, "body": json.dumps({"environment": parsed["name"], "status": "PENDING", "vpc": vpc_id,
                                                   "actions": actions})}
