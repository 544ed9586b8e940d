"""Notebook 01's prerequisites: the execution role's policy as IAM would evaluate it, the VPC endpoints an environment
in private subnets needs, the architecture figure, and the Airflow UI sign-in check."""

from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from helpers.aws import cloud, iam, mwaa, network
from helpers.localcloud.emulators import iam_simulator
from helpers.tooling import charts

REGION, ACCOUNT = "us-east-1", "123456789012"
BUCKET, ENV = "mwaa-workbook-test-env", "tests-env"


@pytest.fixture
def policy(monkeypatch):
    monkeypatch.setattr(cloud, "account_id", lambda: ACCOUNT)
    return iam.execution_policy(BUCKET, ENV)


def allows(policy: dict, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """IAM's decision as the local cloud's SimulatePrincipalPolicy makes it (helpers/localcloud/emulators/iam_simulator.py)."""
    decision, _, _ = iam_simulator.evaluate([("execution", "IAM Policy", policy)], action, resource,
                                            {key.lower(): [value] for key, value in (context or {}).items()})
    return decision == "allowed"


def test_the_execution_policy_allows_this_environments_resources_and_nothing_alike(policy):
    allowed = [("airflow:PublishMetrics", f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/{ENV}"),
               ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/dags/hello_mwaa.py"), ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"),
               ("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-{ENV}-Task:log-stream:x"),
               ("sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:111122223333:airflow-celery-abc"),
               ("s3:GetAccountPublicAccessBlock", "*")]
    denied = [("airflow:PublishMetrics", f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/other"),
              ("s3:GetObject", "arn:aws:s3:::other-bucket/x"), ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/dags/x.py"),
              ("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-other-Task:log-stream:x"),
              ("sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:111122223333:not-celery"),
              ("s3:ListAllMyBuckets", f"arn:aws:s3:::{BUCKET}")]  # allowed by s3:List*, but explicitly denied
    assert all(allows(policy, action, resource) for action, resource in allowed)
    assert not any(allows(policy, action, resource) for action, resource in denied)


def test_kms_only_through_sqs_and_only_on_keys_outside_the_account(policy):
    via_sqs = {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}
    mwaa_key, own_key = f"arn:aws:kms:{REGION}:111122223333:key/k", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k"
    assert allows(policy, "kms:Decrypt", mwaa_key, via_sqs)
    assert allows(policy, "kms:GenerateDataKey", mwaa_key, via_sqs)
    assert not allows(policy, "kms:Decrypt", mwaa_key)  # not through SQS
    assert not allows(policy, "kms:Decrypt", mwaa_key, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"})
    assert not allows(policy, "kms:Decrypt", own_key, via_sqs)


def test_role_permissions_merge_inline_and_managed_policies(module_cloud):
    api = cloud.client("iam")
    arn = iam.create_role("tests-execution", "tests", iam.MWAA_TRUST, iam.execution_policy(BUCKET, ENV), "test")
    managed = api.create_policy(PolicyName="tests-extra", PolicyDocument='{"Version": "2012-10-17", "Statement": '
                                '{"Effect": "Allow", "Action": "glue:GetJob", "Resource": "*"}}')["Policy"]["Arn"]
    api.attach_role_policy(RoleName="tests-execution", PolicyArn=managed)
    merged = iam.role_permissions(arn)
    assert merged["Statement"][:-1] == iam.execution_policy(BUCKET, ENV)["Statement"]
    assert merged["Statement"][-1]["Action"] == "glue:GetJob"


def test_the_workbook_network_has_every_endpoint_private_subnets_need(module_cloud):
    net = network.create_private_network("tests")
    assert network.endpoint_coverage(net).empty
    created = network.create_service_endpoints(net, "tests")
    assert len(created) == 10 and network.create_service_endpoints(net, "tests") == []  # re-running creates nothing
    coverage = network.endpoint_coverage(net)
    assert sorted(coverage.service) == sorted([*network.GATEWAY_SERVICES, *network.INTERFACE_SERVICES])
    assert coverage.both_subnets.all() and set(coverage.type) == {"Gateway", "Interface"}
    assert network.routes_out(net) == {subnet: [] for subnet in net.subnet_ids}
    vpc = cloud.client("ec2").describe_vpc_attribute(VpcId=net.vpc_id, Attribute="enableDnsHostnames")
    assert vpc["EnableDnsHostnames"]["Value"]  # private DNS of interface endpoints needs it
    gone = created[-1]["VpcEndpointId"]
    assert not network.endpoint_deleted(gone)
    cloud.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[gone])
    assert network.endpoint_deleted(gone)
    assert not network.endpoint_coverage(net).service.isin(["airflow.ops"]).any()


def test_an_endpoint_in_one_subnet_only_does_not_cover_both(module_cloud):
    net = network.create_private_network("tests-half")
    cloud.client("ec2").create_vpc_endpoint(VpcId=net.vpc_id, ServiceName=network.service_name("sqs"),
                                            VpcEndpointType="Interface", SubnetIds=net.subnet_ids[:1])
    assert network.endpoint_coverage(net).to_dict("records") == [{"service": "sqs", "type": "Interface", "both_subnets": False}]


def test_architecture_figure_is_drawn_from_describe_answers():
    env = {"Arn": f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/{ENV}", "Name": ENV, "SourceBucketArn": f"arn:aws:s3:::{BUCKET}",
           "DagS3Path": "dags", "AirflowVersion": "3.3.1", "EnvironmentClass": "mw1.small", "WebserverAccessMode": "PUBLIC_ONLY",
           "ExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/mwaa-workbook/x",
           "LoggingConfiguration": {"TaskLogs": {"Enabled": True, "CloudWatchLogGroupArn": "arn:aws:logs:x:y:log-group:airflow-t-Task"}}}
    subnets = [{"CidrBlock": "10.0.10.0/24", "AvailabilityZone": "us-east-1b"},
               {"CidrBlock": "10.0.11.0/24", "AvailabilityZone": "us-east-1a"}]
    endpoints = [{"ServiceName": f"com.amazonaws.{REGION}.{s}", "VpcEndpointType": "Interface"} for s in network.INTERFACE_SERVICES]
    path = charts.environment_architecture(env, {"CidrBlock": "10.0.0.0/16"}, subnets, endpoints, "test_architecture")
    assert path.exists() and path.stat().st_size > 10_000


class _SignIn(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        token = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).get("token", [""])[0]
        if self.path == mwaa.UI_LOGIN_PATH and token == "good":
            self.send_response(303)
            self.send_header("Location", "/")
            self.send_header("Set-Cookie", "_token=session-jwt; Path=/; HttpOnly")
        else:
            self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_sign_in_posts_the_token_and_returns_the_session_without_following_the_redirect():
    server = HTTPServer(("127.0.0.1", 0), _SignIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_port}"
        assert mwaa.sign_in(host, "good") == (303, "session-jwt")
        assert mwaa.sign_in(host, "forged") == (403, None)
    finally:
        server.shutdown()
