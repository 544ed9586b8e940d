"""IAM roles the workbook creates: under the path /mwaa-workbook/, tagged, with inline policies shown to the learner."""

from __future__ import annotations

import json

import botocore.exceptions

from helpers.aws import cloud
from helpers.aws.tags import tag_list

PATH = "/mwaa-workbook/"
MWAA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]}}]}


def execution_policy(bucket: str, environment: str) -> dict:
    """The MWAA execution role's permissions, least privilege: the MWAA user guide's sample policy for an AWS owned
    key ("Amazon MWAA execution role", sample JSON policies), with this environment, bucket and region filled in."""
    region, account = cloud.settings().region, cloud.account_id()
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "airflow:PublishMetrics",
         "Resource": f"arn:aws:airflow:{region}:{account}:environment/{environment}"},
        {"Effect": "Deny", "Action": "s3:ListAllMyBuckets", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
        {"Effect": "Allow", "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents",
                                       "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults"],
         "Resource": [f"arn:aws:logs:{region}:{account}:log-group:airflow-{environment}-*"]},
        {"Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": ["*"]},
        # MWAA reads it when the account blocks public access to every bucket (S3 PutPublicAccessBlock on the account).
        {"Effect": "Allow", "Action": ["s3:GetAccountPublicAccessBlock"], "Resource": ["*"]},
        {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"},
        {"Effect": "Allow", "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                       "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"],
         "Resource": f"arn:aws:sqs:{region}:*:airflow-celery-*"},
        # The Celery queue is MWAA's, encrypted with a key in MWAA's account: any key but this account's, through SQS only.
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
         "NotResource": f"arn:aws:kms:*:{account}:key/*",
         "Condition": {"StringLike": {"kms:ViaService": [f"sqs.{region}.amazonaws.com"]}}},
    ]}


def role_permissions(role_arn: str) -> dict:
    """What a role's identity policies allow, as one policy document: its inline policies and the default versions of
    its attached managed policies, statements in that order."""
    api = cloud.client("iam")
    name = role_arn.rsplit("/", 1)[-1]
    documents = [api.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                 for policy in api.list_role_policies(RoleName=name)["PolicyNames"]]
    for attached in api.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        version = api.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        documents.append(api.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"])
    statements = []
    for document in documents:
        document = json.loads(document) if isinstance(document, str) else document
        found = document["Statement"]
        statements += [found] if isinstance(found, dict) else found
    return {"Version": "2012-10-17", "Statement": statements}


def create_role(name: str, notebook: str, trust: dict, policy: dict, description: str) -> str:
    """Create (or update) a role with one inline policy. Returns its ARN."""
    iam = cloud.client("iam")
    try:
        arn = iam.create_role(RoleName=name, Path=PATH, AssumeRolePolicyDocument=json.dumps(trust), Description=description,
                              Tags=tag_list(notebook))["Role"]["Arn"]
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
    return arn


def delete_role(name: str) -> bool:
    iam = cloud.client("iam")
    try:
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        iam.delete_role(RoleName=name)
        return True
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchEntity":
            return False
        raise
