"""The local cloud's IAM policy simulator (SimulatePrincipalPolicy, which moto lacks): the evaluation rules, then the
stock boto3 call through the gateway."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from helpers.localcloud.emulators.iam_simulator import InvalidPolicyInput, evaluate, simulate, wildcard

VPC = "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1"


def policy(*statements) -> list[tuple[str, str, dict]]:
    return [("p", "role", {"Version": "2012-10-17", "Statement": list(statements)})]


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def decide(policies, action="ec2:CreateVpcEndpoint", resource=VPC, context=None):
    return evaluate(policies, action, resource, context or {})[0]


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("ec2:*", "ec2:CreateVpcEndpoint", True), ("ec2:Create*", "ec2:CreateVpcEndpoint", True),
    ("ec2:Describe*", "ec2:CreateVpcEndpoint", False), ("arn:aws:ec2:*:*:vpc/*", VPC, True),
    ("arn:aws:ec2:*:*:subnet/*", VPC, False), ("vpc-?", "vpc-1", True), ("vpc-?", "vpc-12", False),
    ("a.b", "axb", False)])
def test_wildcards(pattern, value, expected):
    assert wildcard(pattern, value) is expected


def test_no_statement_is_the_implicit_deny_and_an_allow_allows():
    assert decide(policy(allow("airflow:CreateEnvironment"))) == "implicitDeny"
    assert decide(policy(allow("ec2:*"))) == "allowed"
    assert decide(policy(allow("EC2:createvpcendpoint"))) == "allowed"  # actions are case-insensitive


def test_an_explicit_deny_wins_and_is_the_only_match_reported():
    decision, matched, _ = evaluate(policy(allow("*"), {"Effect": "Deny", "Action": "ec2:*VpcEndpoint*", "Resource": "*"}),
                                    "ec2:CreateVpcEndpoint", VPC, {})
    assert decision == "explicitDeny" and len(matched) == 1


def test_resources_are_matched_case_sensitively_and_not_resource_excludes():
    assert decide(policy(allow("ec2:CreateVpcEndpoint", "arn:aws:ec2:us-east-1:123456789012:vpc/*"))) == "allowed"
    assert decide(policy(allow("ec2:CreateVpcEndpoint", "arn:aws:ec2:us-east-1:123456789012:VPC/*"))) == "implicitDeny"
    assert decide(policy({"Effect": "Allow", "Action": "ec2:*", "NotResource": VPC})) == "implicitDeny"
    assert decide(policy({"Effect": "Allow", "NotAction": "ec2:*", "Resource": "*"})) == "implicitDeny"


def test_conditions_need_their_context_and_report_missing_keys():
    statement = allow("iam:CreateServiceLinkedRole", Condition={"StringLike": {"iam:AWSServiceName": "airflow.amazonaws.com"}})
    decision, _, missing = evaluate(policy(statement), "iam:CreateServiceLinkedRole", "*", {})
    assert decision == "implicitDeny" and missing == ["iam:AWSServiceName"]
    assert decide(policy(statement), "iam:CreateServiceLinkedRole", "*", {"iam:awsservicename": ["airflow.amazonaws.com"]}) \
        == "allowed"
    assert decide(policy(statement), "iam:CreateServiceLinkedRole", "*", {"iam:awsservicename": ["ec2.amazonaws.com"]}) \
        == "implicitDeny"
    with pytest.raises(InvalidPolicyInput, match="NumericLessThan"):
        decide(policy(allow("*", Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "300"}})))


def test_one_result_per_action_with_the_most_restrictive_decision_across_resources():
    scoped = policy(allow("ec2:CreateVpcEndpoint", "arn:aws:ec2:*:*:vpc/*"))
    [result] = simulate(scoped, ["ec2:CreateVpcEndpoint"], [VPC, "arn:aws:ec2:us-east-1:123456789012:subnet/s-1"], {})
    assert result["EvalDecision"] == "implicitDeny"
    assert [r["EvalResourceDecision"] for r in result["ResourceSpecificResults"]] == ["allowed", "implicitDeny"]


def test_a_permissions_boundary_limits_an_allow():
    boundary = [("b", "user-managed", {"Statement": [allow("airflow:*")]})]
    [result] = simulate(policy(allow("*")), ["ec2:CreateVpcEndpoint"], None, {}, boundary)
    assert result["EvalDecision"] == "implicitDeny" and result["EvalResourceName"] == "*"


def test_simulate_principal_policy_through_boto3(local_cloud):
    from helpers.aws import cloud

    iam = cloud.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}
    arn = iam.create_role(RoleName="tests-creator", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="tests-creator", PolicyName="create-environments", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow("airflow:CreateEnvironment")]}))
    answer = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["airflow:CreateEnvironment",
                                                                             "ec2:CreateVpcEndpoint"], ResourceArns=[VPC])
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in answer["EvaluationResults"]}
    assert decisions == {"airflow:CreateEnvironment": "allowed", "ec2:CreateVpcEndpoint": "implicitDeny"}
    assert answer["EvaluationResults"][0]["MatchedStatements"][0]["SourcePolicyId"] == "create-environments"
    # a managed policy attached later counts too
    managed = iam.create_policy(PolicyName="tests-ec2", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow("ec2:*")]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="tests-creator", PolicyArn=managed)
    again = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["ec2:CreateVpcEndpoint"])["EvaluationResults"]
    assert again[0]["EvalDecision"] == "allowed"
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchEntity"):
        iam.simulate_principal_policy(PolicySourceArn="arn:aws:iam::123456789012:role/nope", ActionNames=["s3:GetObject"])
