"""The shared-VPC endpoint automation function, against the local cloud's EC2 (as the deployed function would be)."""

from __future__ import annotations

import json

import pytest

from helpers import localcloud
from helpers.aws import cloud
from helpers.chapters.shared_vpc import mwaa_endpoint_automation as fn

QUEUE = "arn:aws:sqs:us-east-1:123456789012:airflow-celery-abc"
DB_SERVICE = "com.amazonaws.vpce.us-east-1.vpce-svc-0000000000000000a"
WEB_SERVICE = "com.amazonaws.vpce.us-east-1.vpce-svc-0000000000000000b"


@pytest.fixture
def vpc(module_cloud, monkeypatch):
    """A VPC like the article's stack: two private subnets, a security group, an SQS endpoint allowing nothing. A new
    one per test, in the module's local cloud: the function only touches the VPC of the event's subnets."""
    for key, value in localcloud.exports().items():
        monkeypatch.setenv(key, value)  # the function uses plain boto3, as in Lambda
    ec2 = cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.192.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.192.{i}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
               for i, az in ((10, "us-east-1a"), (11, "us-east-1b"))]
    group = ec2.create_security_group(GroupName="mwaa", Description="mwaa", VpcId=vpc_id)["GroupId"]
    sqs = ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName="com.amazonaws.us-east-1.sqs", VpcEndpointType="Interface",
                                  SubnetIds=subnets, PolicyDocument=json.dumps({"Statement": [
                                      {"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": []}]}))
    return {"vpc": vpc_id, "subnets": subnets, "group": group, "sqs": sqs["VpcEndpoint"]["VpcEndpointId"], "ec2": ec2}


def event(vpc, status="PENDING", mode="PUBLIC_ONLY"):
    detail = {"name": "env1", "status": status, "webserverAccessMode": mode, "celeryExecutorQueue": QUEUE,
              "databaseVpcEndpointService": DB_SERVICE,
              "networkConfiguration": {"subnetIds": vpc["subnets"], "securityGroupIds": [vpc["group"]]}}
    if mode == "PRIVATE_ONLY":
        detail["webserverVpcEndpointService"] = WEB_SERVICE
    return {"source": "aws.airflow", "detail-type": "MWAA Environment Status Change", "detail": detail}


def endpoints(vpc, service=None):
    filters = [{"Name": "vpc-id", "Values": [vpc["vpc"]]}] + ([{"Name": "service-name", "Values": [service]}] if service else [])
    return fn._live(vpc["ec2"].describe_vpc_endpoints(Filters=filters)["VpcEndpoints"])


def sqs_policy(vpc):
    found = vpc["ec2"].describe_vpc_endpoints(VpcEndpointIds=[vpc["sqs"]])["VpcEndpoints"][0]
    return json.loads(found["PolicyDocument"])


def body(result):
    return json.loads(result["body"])


def test_public_only_creates_the_database_endpoint_and_allows_the_queue(vpc):
    result = fn.lambda_handler(event(vpc), None)
    assert result["statusCode"] == 200
    assert body(result)["actions"] == ["sqs policy: queue added", "database endpoint: created"]
    db = endpoints(vpc, DB_SERVICE)
    assert len(db) == 1 and sorted(db[0]["SubnetIds"]) == sorted(vpc["subnets"])
    assert {t["Key"]: t["Value"] for t in db[0]["Tags"]}["Name"] == "mwaa-env1-database"
    assert endpoints(vpc, WEB_SERVICE) == []
    assert sqs_policy(vpc)["Statement"][0]["Resource"] == [QUEUE]


def test_private_only_also_creates_the_webserver_endpoint(vpc):
    result = fn.lambda_handler(event(vpc, mode="PRIVATE_ONLY"), None)
    assert body(result)["actions"][-1] == "webserver endpoint: created"
    assert len(endpoints(vpc, DB_SERVICE)) == 1 and len(endpoints(vpc, WEB_SERVICE)) == 1


def test_redelivered_event_creates_nothing_twice(vpc):
    fn.lambda_handler(event(vpc, mode="PRIVATE_ONLY"), None)
    again = body(fn.lambda_handler(event(vpc, mode="PRIVATE_ONLY"), None))
    assert again["actions"] == ["sqs policy: queue already allowed", "database endpoint: exists", "webserver endpoint: exists"]
    assert len(endpoints(vpc)) == 3  # sqs, database, webserver
    assert sqs_policy(vpc)["Statement"][0]["Resource"] == [QUEUE]


def test_policy_allowing_everything_is_left_alone(vpc):
    vpc["ec2"].modify_vpc_endpoint(VpcEndpointId=vpc["sqs"], PolicyDocument=json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*"}]}))
    assert body(fn.lambda_handler(event(vpc), None))["actions"][0] == "sqs policy: already allows *"
    assert sqs_policy(vpc)["Statement"][0]["Resource"] == "*"


def test_no_sqs_endpoint_still_creates_the_database_endpoint(vpc):
    vpc["ec2"].delete_vpc_endpoints(VpcEndpointIds=[vpc["sqs"]])
    actions = body(fn.lambda_handler(event(vpc), None))["actions"]
    assert actions == ["sqs policy: no SQS endpoint", "database endpoint: created"]


@pytest.mark.parametrize("status", ["CREATING", "AVAILABLE", "UPDATING", "DELETING", "CREATE_FAILED"])
def test_other_statuses_are_ignored(vpc, status):
    result = fn.lambda_handler(event(vpc, status=status), None)
    assert result["statusCode"] == 200 and body(result)["actions"] == []
    assert len(endpoints(vpc)) == 1  # only the SQS endpoint
    assert sqs_policy(vpc)["Statement"][0]["Resource"] == []


@pytest.mark.parametrize("bad, message", [
    ({}, "not an EventBridge event: no detail"),
    ({"detail": {"status": "PENDING"}}, "event detail has no name"),
    ({"detail": {"name": "e", "status": "PENDING"}}, "event detail has no celeryExecutorQueue"),
    ("private-without-web", "PRIVATE_ONLY environment without webserverVpcEndpointService"),
])
def test_malformed_events_get_a_clear_error_and_create_nothing(vpc, bad, message):
    if bad == "private-without-web":
        bad = event(vpc, mode="PRIVATE_ONLY")
        del bad["detail"]["webserverVpcEndpointService"]
    result = fn.lambda_handler(bad, None)
    assert result["statusCode"] == 400 and body(result)["error"] == message
    assert len(endpoints(vpc)) == 1


def _client_error(code, message):
    import botocore.exceptions

    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, "CreateFunction")


def test_create_function_is_retried_only_while_the_new_role_cannot_be_assumed(monkeypatch):
    from helpers.chapters.shared_vpc import scenario as shared_vpc

    monkeypatch.setattr(shared_vpc.time, "sleep", lambda _s: None)
    attempts = []

    def create():
        attempts.append(1)
        if len(attempts) < 3:
            raise _client_error("InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda.")
        return {"FunctionArn": "arn"}

    assert shared_vpc.once_role_is_assumable(create) == {"FunctionArn": "arn"} and len(attempts) == 3

    def invalid():
        raise _client_error("InvalidParameterValueException", "Unsupported runtime")

    with pytest.raises(Exception, match="Unsupported runtime"):
        shared_vpc.once_role_is_assumable(invalid)


def test_the_lifecycle_figure_draws_each_environment(tmp_path, monkeypatch):
    from helpers import paths
    from helpers.chapters.shared_vpc import scenario as shared_vpc

    monkeypatch.setattr(paths, "BUILD_DIR", tmp_path)
    polls = [(0.0, "CREATING"), (2.0, "PENDING"), (5.0, "CREATING"), (16.0, "AVAILABLE")]
    path = shared_vpc.lifecycle({"a": (polls, 4.0), "b": (polls, 4.5)}, name="t_lifecycle")
    assert path == tmp_path / "plots" / "t_lifecycle.png" and path.stat().st_size > 10_000
    assert shared_vpc.architecture(name="t_arch").stat().st_size > 10_000
