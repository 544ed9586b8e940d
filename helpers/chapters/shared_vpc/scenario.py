"""Scenario 02: MWAA in a restricted (shared) VPC with customer-managed endpoints.

Who may do what is the point of the scenario: the endpoint-automation function holds the VPC endpoint
permissions, so the principal that creates environments does not need them.
"""

from __future__ import annotations

import json

import pandas as pd

from helpers.aws import cloud, events, iam, lambdas, mwaa, network, stacks
from helpers.aws.tags import tag_list

NOTEBOOK = "02_shared_vpc"
STACK = "mwaa-workbook-02-cfn-vpc-private"
FUNCTION = "mwaa-workbook-02-endpoint-automation"
RULE = "mwaa-workbook-02-mwaa-create"
CREATOR_ROLE = "mwaa-workbook-02-environment-creator"


def function_policy() -> dict:
    region, account = cloud.settings().region, cloud.account_id()
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "logs:CreateLogGroup", "Resource": f"arn:aws:logs:{region}:{account}:*"},
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{FUNCTION}:*"},
        {"Effect": "Allow", "Action": ["ec2:DescribeSubnets", "ec2:DescribeVpcEndpoints"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint", "ec2:CreateTags"],
         "Resource": [f"arn:aws:ec2:{region}:{account}:vpc-endpoint/*", f"arn:aws:ec2:{region}:{account}:vpc/*",
                      f"arn:aws:ec2:{region}:{account}:subnet/*", f"arn:aws:ec2:{region}:{account}:security-group/*"]},
    ]}


def creator_policy(execution_role_arn: str) -> dict:
    """What a participant needs to create MWAA environments in shared subnets: no VPC endpoint permissions."""
    region, account = cloud.settings().region, cloud.account_id()
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["airflow:CreateEnvironment", "airflow:GetEnvironment", "airflow:UpdateEnvironment",
                                       "airflow:DeleteEnvironment", "airflow:ListEnvironments", "airflow:TagResource"],
         "Resource": f"arn:aws:airflow:{region}:{account}:environment/*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": execution_role_arn},
        {"Effect": "Allow", "Action": ["ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:CreateServiceLinkedRole", "Resource": "*",
         "Condition": {"StringLike": {"iam:AWSServiceName": "airflow.amazonaws.com"}}},
    ]}


def create_creator_role(execution_role_arn: str) -> str:
    """The role a participant uses to create environments (assumable by the account), with `creator_policy`."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{cloud.account_id()}:root"}}]}
    return iam.create_role(CREATOR_ROLE, NOTEBOOK, trust, creator_policy(execution_role_arn),
                           "Creates MWAA environments in shared subnets")


def role_actions(role: str) -> list[str]:
    """The actions a role's inline policy allows."""
    document = cloud.client("iam").get_role_policy(RoleName=role, PolicyName=f"{role}-policy")["PolicyDocument"]
    return actions(document)


def sqs_policy(endpoint_id: str) -> dict:
    found = cloud.client("ec2").describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    return json.loads(found["PolicyDocument"])


def actions(policy: dict) -> list[str]:
    found = []
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            acts = statement["Action"]
            found += [acts] if isinstance(acts, str) else acts
    return sorted(set(found))


def set_up_automation() -> str:
    """The function (with its role), and the article's rule routed to it. Returns how the rule reaches it."""
    role = iam.create_role(f"{FUNCTION}-role", NOTEBOOK, lambdas.LAMBDA_TRUST, function_policy(),
                           "Creates MWAA customer-managed VPC endpoints")
    lambdas.deploy(FUNCTION, "helpers.chapters.shared_vpc.mwaa_endpoint_automation", role, NOTEBOOK)
    cloud.client("events").put_rule(Name=RULE, EventPattern=json.dumps(events.MWAA_STATUS_PATTERN), Tags=tag_list(NOTEBOOK))
    return lambdas.route_rule(RULE, FUNCTION, NOTEBOOK)


def environment_request(name: str, outputs: dict, prereq: mwaa.Prerequisites, access_mode: str) -> dict:
    network = {"SubnetIds": outputs["PrivateSubnets"].split(","), "SecurityGroupIds": [outputs["SecurityGroup"]]}
    return mwaa.environment_request(name, prereq, NOTEBOOK, EndpointManagement="CUSTOMER", WebserverAccessMode=access_mode,
                                    NetworkConfiguration=network, LoggingConfiguration={})


def endpoints(vpc_id: str) -> list[dict]:
    return network.live_endpoints([{"Name": "vpc-id", "Values": [vpc_id]}])


def pending_event(name: str) -> dict:
    """The PENDING status event MWAA sent for an environment, rebuilt from GetEnvironment (for re-delivery)."""
    env = mwaa.describe(name)
    detail = {"name": name, "status": "PENDING", "webserverAccessMode": env["WebserverAccessMode"],
              "celeryExecutorQueue": env["CeleryExecutorQueue"], "databaseVpcEndpointService": env["DatabaseVpcEndpointService"],
              "networkConfiguration": {"subnetIds": env["NetworkConfiguration"]["SubnetIds"],
                                       "securityGroupIds": env["NetworkConfiguration"]["SecurityGroupIds"]}}
    if env.get("WebserverVpcEndpointService"):
        detail["webserverVpcEndpointService"] = env["WebserverVpcEndpointService"]
    return {"source": "aws.airflow", "detail-type": "MWAA Environment Status Change", "resources": [env["Arn"]],
            "detail": detail}


def endpoint_table(vpc_id: str) -> pd.DataFrame:
    """The VPC's endpoints, named by what they serve (MWAA's service names are per environment)."""
    services = {}
    for name in mwaa.workbook_environments():
        env = mwaa.describe(name)
        services[env["DatabaseVpcEndpointService"]] = f"{name} database"
        if env.get("WebserverVpcEndpointService"):
            services[env["WebserverVpcEndpointService"]] = f"{name} webserver"
    rows = [{"serves": services.get(e["ServiceName"], e["ServiceName"].rsplit(".", 1)[-1]), "type": e["VpcEndpointType"],
             "created_by": {t["Key"]: t["Value"] for t in e.get("Tags", [])}.get("managed-by", "stack")}
            for e in endpoints(vpc_id)]
    return pd.DataFrame(rows, columns=["serves", "type", "created_by"]).sort_values(["created_by", "serves"]).reset_index(drop=True)


def deploy_network() -> dict:
    return stacks.deploy(STACK, "cfn-vpc-private.yaml", NOTEBOOK)
