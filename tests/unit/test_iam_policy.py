"""The local cloud's IAM policy evaluation (helpers/localcloud/emulators/iam_policy.py): identity policies per role,
trust policies for web identity, and the permissions enforcement derives from S3 and SSM requests."""

from __future__ import annotations

import pytest

from helpers.localcloud.emulators.iam_enforcement import s3_checks, ssm_checks
from helpers.localcloud.emulators.iam_policy import (
    InvalidPolicyInput,
    decide,
    evaluate,
    trust_decision,
    web_identity_context,
)

SOURCE, DESTINATION = "arn:aws:s3:::tests-source", "arn:aws:s3:::tests-destination"
PARAMETER = "arn:aws:ssm:us-east-1:123456789012:parameter/{}"
# the two IRSA roles of notebook 06, as policies
READER = [("reader", "role", {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": SOURCE},
    {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": PARAMETER.format("mwaa_source_bucket")}]})]
WRITER = [("writer", "role", {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{DESTINATION}/*"},
    {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": PARAMETER.format("mwaa_destination_bucket")}]})]


@pytest.mark.parametrize(("policies", "action", "resource", "expected"), [
    (READER, "s3:ListBucket", SOURCE, "allowed"),
    (READER, "s3:ListBucket", DESTINATION, "implicitDeny"),
    (READER, "s3:PutObject", f"{DESTINATION}/list.json", "implicitDeny"),
    (READER, "ssm:GetParameter", PARAMETER.format("mwaa_source_bucket"), "allowed"),
    (READER, "ssm:GetParameter", PARAMETER.format("mwaa_destination_bucket"), "implicitDeny"),
    (WRITER, "s3:PutObject", f"{DESTINATION}/list.json", "allowed"),
    (WRITER, "s3:PutObject", f"{SOURCE}/list.json", "implicitDeny"),
    (WRITER, "s3:ListBucket", SOURCE, "implicitDeny"),
    (WRITER, "s3:PutObject", DESTINATION, "implicitDeny"),  # objects/* is not the bucket itself
])
def test_each_role_is_allowed_only_what_its_policy_names(policies, action, resource, expected):
    assert evaluate(policies, action, resource, {})[0] == expected


def test_explicit_deny_beats_a_wildcard_allow_and_is_the_match_reported():
    policies = [("all", "role", {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
                ("no-secrets", "role", {"Statement": {"Effect": "Deny", "Action": "s3:Get*",
                                                      "Resource": "arn:aws:s3:::*/secret/*"}})]
    assert evaluate(policies, "s3:GetObject", "arn:aws:s3:::b/public/x", {})[0] == "allowed"
    decision, matched, _ = evaluate(policies, "s3:GetObject", "arn:aws:s3:::b/secret/x", {})
    assert decision == "explicitDeny" and matched == [{"SourcePolicyId": "no-secrets", "SourcePolicyType": "role"}]


def test_an_unknown_resource_is_evaluated_at_action_level():
    assert evaluate(READER, "s3:ListBucket", None, {})[0] == "allowed"
    assert evaluate(READER, "sqs:SendMessage", None, {})[0] == "implicitDeny"


def test_conditions_on_s3_prefix_and_unknown_operators_fail_closed_when_enforcing():
    scoped = [("p", "role", {"Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": SOURCE,
                                            "Condition": {"StringLike": {"s3:prefix": ["home/*"]}}}]})]
    assert evaluate(scoped, "s3:ListBucket", SOURCE, {"s3:prefix": ["home/me/"]})[0] == "allowed"
    assert evaluate(scoped, "s3:ListBucket", SOURCE, {"s3:prefix": ["etc/"]})[0] == "implicitDeny"
    assert evaluate(scoped, "s3:ListBucket", SOURCE, {})[0] == "implicitDeny"
    numeric = [("p", "role", {"Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": "10"}}},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*", "Condition": {"DateLessThan": {"aws:x": "1"}}}]})]
    with pytest.raises(InvalidPolicyInput):
        evaluate(numeric, "s3:ListBucket", SOURCE, {})
    assert evaluate(numeric, "s3:ListBucket", SOURCE, {}, fail_closed=True)[0] == "implicitDeny"
    assert evaluate(numeric, "s3:PutObject", SOURCE, {}, fail_closed=True)[0] == "explicitDeny"


def test_a_boundary_limits_what_the_identity_policy_allows():
    boundary = [("b", "user-managed", {"Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]})]
    assert decide(READER, boundary, "s3:ListBucket", SOURCE, {})[0] == "allowed"
    assert decide(READER, boundary, "ssm:GetParameter", PARAMETER.format("mwaa_source_bucket"), {})[0] == "implicitDeny"


PROVIDER_URL = "oidc.eks.us-east-1.amazonaws.com/id/ABC"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{PROVIDER_URL}"


def irsa_trust(sub="system:serviceaccount:mwaa:source-bucket-reader-sa", operator="StringEquals") -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {operator: {f"{PROVIDER_URL}:sub": sub, f"{PROVIDER_URL}:aud": "sts.amazonaws.com"}}}]}


def claims(sa="source-bucket-reader-sa", aud="sts.amazonaws.com") -> dict:
    return {"sub": f"system:serviceaccount:mwaa:{sa}", "aud": [aud]}


@pytest.mark.parametrize(("trust", "token", "provider", "expected"), [
    (irsa_trust(), claims(), PROVIDER, "allowed"),
    (irsa_trust(), claims("destination-bucket-writer-sa"), PROVIDER, "implicitDeny"),
    (irsa_trust(), claims(aud="other"), PROVIDER, "implicitDeny"),
    (irsa_trust(), claims(), PROVIDER.replace("ABC", "XYZ"), "implicitDeny"),  # another cluster's provider
    (irsa_trust("system:serviceaccount:mwaa:*", "StringLike"), claims("anything-sa"), PROVIDER, "allowed"),
    (irsa_trust("system:serviceaccount:mwaa:*", "StringEquals"), claims("anything-sa"), PROVIDER, "implicitDeny"),
])
def test_irsa_trust_policies(trust, token, provider, expected):
    assert trust_decision(trust, "sts:AssumeRoleWithWebIdentity", "Federated", provider,
                          web_identity_context(PROVIDER_URL, token))[0] == expected


def test_a_trust_policy_for_another_action_or_principal_kind_does_not_apply_and_deny_wins():
    context = web_identity_context(PROVIDER_URL, claims())
    assert trust_decision(irsa_trust(), "sts:AssumeRole", "Federated", PROVIDER, context)[0] == "implicitDeny"
    assert trust_decision(irsa_trust(), "sts:AssumeRoleWithWebIdentity", "AWS", PROVIDER, context)[0] == "implicitDeny"
    trust = irsa_trust()
    trust["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "sts:*"})
    assert trust_decision(trust, "sts:AssumeRoleWithWebIdentity", "Federated", PROVIDER, context)[0] == "explicitDeny"


def actions(checks):
    return [(c.action, c.resource) for c in checks]


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/b", {"list-type": ["2"], "prefix": ["p/"]}, [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("GET", "/b", {}, [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("HEAD", "/b", {}, [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("GET", "/b", {"location": [""]}, [("s3:GetBucketLocation", "arn:aws:s3:::b")]),
    ("GET", "/", {}, [("s3:ListAllMyBuckets", None)]),
    ("PUT", "/b", {}, [("s3:CreateBucket", "arn:aws:s3:::b")]),
    ("GET", "/b/dir/k.txt", {}, [("s3:GetObject", "arn:aws:s3:::b/dir/k.txt")]),
    ("HEAD", "/b/k", {}, [("s3:GetObject", "arn:aws:s3:::b/k")]),
    ("PUT", "/b/k", {}, [("s3:PutObject", "arn:aws:s3:::b/k")]),
    ("PUT", "/b/k", {"partNumber": ["1"], "uploadId": ["u"]}, [("s3:PutObject", "arn:aws:s3:::b/k")]),
    ("POST", "/b/k", {"uploads": [""]}, [("s3:PutObject", "arn:aws:s3:::b/k")]),
    ("DELETE", "/b/k", {}, [("s3:DeleteObject", "arn:aws:s3:::b/k")]),
    ("DELETE", "/b/k", {"uploadId": ["u"]}, [("s3:AbortMultipartUpload", "arn:aws:s3:::b/k")]),
    ("GET", "/b/k", {"tagging": [""]}, [("s3:GetObjectTagging", "arn:aws:s3:::b/k")]),
])
def test_s3_requests_name_the_action_and_resource_iam_evaluates(method, path, query, expected):
    assert actions(s3_checks(method, path, query, {})) == expected


def test_s3_list_context_copy_source_and_delete_objects():
    [listing] = s3_checks("GET", "/b", {"list-type": ["2"], "prefix": ["p/"], "delimiter": ["/"]}, {})
    assert listing.context == {"s3:prefix": ["p/"], "s3:delimiter": ["/"]}
    copy = s3_checks("PUT", "/dst/k", {}, {"x-amz-copy-source": "/src/a%20b.txt?versionId=1"})
    assert actions(copy) == [("s3:PutObject", "arn:aws:s3:::dst/k"), ("s3:GetObject", "arn:aws:s3:::src/a b.txt")]
    body = b"<Delete><Object><Key>a</Key></Object><Object><Key>x&amp;y</Key></Object></Delete>"
    assert actions(s3_checks("POST", "/b", {"delete": [""]}, {}, lambda: body)) == [
        ("s3:DeleteObject", "arn:aws:s3:::b/a"), ("s3:DeleteObject", "arn:aws:s3:::b/x&y")]
    assert actions(s3_checks("GET", "/k", {}, {}, host_bucket="b")) == [("s3:GetObject", "arn:aws:s3:::b/k")]


def test_ssm_parameters_are_resources():
    region, account = "us-east-1", "123456789012"
    assert actions(ssm_checks("GetParameter", {"Name": "mwaa_source_bucket"}, region, account)) == [
        ("ssm:GetParameter", PARAMETER.format("mwaa_source_bucket"))]
    assert actions(ssm_checks("GetParameter", {"Name": "/a/b:3"}, region, account)) == [
        ("ssm:GetParameter", PARAMETER.format("a/b"))]
    assert [r for _, r in actions(ssm_checks("GetParameters", {"Names": ["x", "/y"]}, region, account))] == [
        PARAMETER.format("x"), PARAMETER.format("y")]
    assert actions(ssm_checks("DescribeParameters", {}, region, account)) == [("ssm:DescribeParameters", None)]


@pytest.mark.parametrize(("service", "method", "path", "expected"), [
    ("eks", "GET", "/clusters/data-cluster", "eks:DescribeCluster"),
    ("eks", "GET", "/clusters", "eks:ListClusters"),
    ("eks", "POST", "/clusters/data-cluster/node-groups", "eks:CreateNodegroup"),
    ("lambda", "POST", "/2015-03-31/functions/f/invocations", "lambda:InvokeFunction"),
    ("lambda", "GET", "/2015-03-31/functions/f", "lambda:GetFunction"),
    ("airflow", "POST", "/restapi/env", "airflow:InvokeRestApi"),
    ("airflow", "GET", "/environments/env", "airflow:GetEnvironment"),
])
def test_rest_services_are_named_by_their_iam_action(service, method, path, expected):
    from helpers.localcloud.emulators.iam_enforcement import _REST, iam_action

    assert iam_action(service, _REST.operation(service, method, path, {})) == expected
