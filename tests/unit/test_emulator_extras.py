"""The local cloud's fixes to moto and its Lambda runner, through the public APIs only."""

from __future__ import annotations

import json

from helpers.aws import cloud, iam, lambdas, stacks, tags
from helpers.aws.events import MWAA_STATUS_PATTERN

FN_MODULE = "helpers.chapters.shared_vpc.mwaa_endpoint_automation"


def test_private_vpc_stack_stores_json_policies_and_deletes_completely(module_cloud):
    outputs = stacks.deploy("tests-vpc", "cfn-vpc-private.yaml", "tests-cfn")
    ec2 = cloud.client("ec2")
    sqs = ec2.describe_vpc_endpoints(VpcEndpointIds=[outputs["SqsVpcEndpoint"]])["VpcEndpoints"][0]
    assert json.loads(sqs["PolicyDocument"])["Statement"][0]["Resource"] == []  # JSON, as on AWS
    assert len(outputs["PrivateSubnets"].split(",")) == 2
    assert set(stacks.resources("tests-vpc").status) == {"CREATE_COMPLETE"}
    assert stacks.delete("tests-vpc")
    assert not stacks.exists("tests-vpc")
    assert [v for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]] == []
    assert {e["State"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]} == {"deleted"}
    assert tags.tagged_resources("tests-cfn").empty


def _function(name="tests-fn"):
    role = iam.create_role(f"{name}-role", "tests-lambda", lambdas.LAMBDA_TRUST, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]},
                           "test")
    lambdas.deploy(name, FN_MODULE, role, "tests-lambda", timeout=30)
    return name


def test_package_is_the_module_source_unchanged():
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(lambdas.package(FN_MODULE))) as archive:
        assert archive.namelist() == ["lambda_function.py"]
        source = archive.read("lambda_function.py").decode()
    assert "def lambda_handler(event, context):" in source
    assert lambdas.package(FN_MODULE) == lambdas.package(FN_MODULE)  # deterministic: same code, same hash


def test_invoke_runs_the_deployed_code_and_logs_like_lambda(module_cloud):
    name = _function()
    result = lambdas.invoke(name, {"detail": {"name": "env1", "status": "AVAILABLE"}})
    assert json.loads(result["body"]) == {"environment": "env1", "status": "AVAILABLE", "actions": []}
    lines = lambdas.log_lines(name)
    assert lines[0].startswith("START RequestId: ") and lines[-1].startswith("REPORT RequestId: ")
    assert "[INFO] env1 is AVAILABLE: nothing to do" in lines
    assert len(lambdas.invocations(name)) == 1


def test_a_rule_routed_to_a_function_invokes_it_for_each_event(local_cloud):
    name = _function()
    events = cloud.client("events")
    events.put_rule(Name="tests-rule", EventPattern=json.dumps(MWAA_STATUS_PATTERN))
    assert "emulated" in lambdas.route_rule("tests-rule", name, "tests-lambda")
    for status in ("CREATING", "AVAILABLE"):
        events.put_events(Entries=[{"Source": "aws.airflow", "DetailType": "MWAA Environment Status Change",
                                    "Detail": json.dumps({"name": "env1", "status": status})}])
    events.put_events(Entries=[{"Source": "aws.other", "DetailType": "Something else", "Detail": "{}"}])  # not matched
    lambdas.wait_for_invocations(name, 2, timeout=30)
    assert [ln for ln in lambdas.log_lines(name) if "nothing to do" in ln] == [
        "[INFO] env1 is CREATING: nothing to do", "[INFO] env1 is AVAILABLE: nothing to do"]
    assert lambdas.delete(name) and not lambdas.delete(name)
