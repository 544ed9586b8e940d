"""Clean-up by tag: delete what the workbook created, in an order AWS accepts, and prove nothing is left."""

from __future__ import annotations

import botocore.exceptions
import pandas as pd
import psutil

from helpers.aws import cloud, eks, iam, lambdas, mwaa, network, s3, stacks
from helpers.aws.tags import tagged_resources
from helpers.localcloud.processes import processes_under
from helpers.paths import state_dir
from helpers.procs import wait_until

# Dependents first: environments before their buckets and roles, endpoints before subnets, subnets before VPCs.
ORDER = ["airflow", "events", "lambda", "glue", "eks", "vpc-endpoint", "cloudformation", "security-group", "subnet", "vpc", "sqs",
         "sns", "s3", "secretsmanager", "ssm", "logs", "iam"]


def _kind(arn: str) -> str:
    service = arn.split(":")[2]
    if service == "ec2":
        return arn.split(":")[5].split("/")[0]
    return service


def delete_arn(arn: str) -> None:
    kind, name = _kind(arn), arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    if kind == "airflow":
        groups = environment_log_groups(name)  # read before the environment is gone
        mwaa.delete_environment(name)
        logs = cloud.client("logs")
        for group in logs.describe_log_groups(logGroupNamePrefix=f"airflow-{name}-")["logGroups"]:
            if group["logGroupName"] in groups:  # not another environment's whose name starts the same
                logs.delete_log_group(logGroupName=group["logGroupName"])
    elif kind == "s3":
        s3.delete_bucket(arn.split(":::", 1)[1])
    elif kind == "iam" and ":oidc-provider/" in arn:
        cloud.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    elif kind == "iam":
        iam.delete_role(name)
    elif kind == "eks":
        resource, _, path = arn.split(":", 5)[5].partition("/")
        if resource == "cluster":
            eks.delete_cluster(path)
        elif resource == "nodegroup":
            eks.delete_nodegroup(*path.split("/")[:2])
        else:
            raise ValueError(f"the workbook does not know how to delete {arn}")
    elif kind == "ssm":
        parameter = arn.split(":parameter/", 1)[1]
        cloud.client("ssm").delete_parameter(Name=parameter if "/" not in parameter else f"/{parameter}")
    elif kind == "vpc-endpoint":
        cloud.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[name])
        # On AWS an interface endpoint's network interfaces go minutes later; until then its subnets and security group
        # cannot be deleted (DependencyViolation). Locally it is gone at once.
        wait_until(lambda: network.endpoint_deleted(name), 900, f"VPC endpoint {name} deleted", interval=5)
    elif kind == "security-group":
        cloud.client("ec2").delete_security_group(GroupId=name)
    elif kind == "subnet":
        cloud.client("ec2").delete_subnet(SubnetId=name)
    elif kind == "vpc":
        cloud.client("ec2").delete_vpc(VpcId=name)
    elif kind == "sqs":
        sqs = cloud.client("sqs")
        sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])
    elif kind == "sns":
        cloud.client("sns").delete_topic(TopicArn=arn)
    elif kind == "logs":
        cloud.client("logs").delete_log_group(logGroupName=arn.split(":log-group:", 1)[1].removesuffix(":*"))
    elif kind == "events":
        events = cloud.client("events")
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        if targets:
            events.remove_targets(Rule=name, Ids=[t["Id"] for t in targets])
        events.delete_rule(Name=name)
    elif kind == "secretsmanager":
        # No recovery window: a re-run of the notebook creates the same secret name again.
        cloud.client("secretsmanager").delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    elif kind == "lambda":
        lambdas.delete(name)
    elif kind == "glue":
        glue, (resource, glue_name) = cloud.client("glue"), arn.split(":", 5)[5].split("/", 1)
        {"crawler": lambda: glue.delete_crawler(Name=glue_name), "job": lambda: glue.delete_job(JobName=glue_name),
         "database": lambda: glue.delete_database(Name=glue_name)}[resource]()
    elif kind == "cloudformation":
        stacks.delete(arn.split(":stack/", 1)[1].split("/", 1)[0])
    else:
        raise ValueError(f"the workbook does not know how to delete {arn}")


LOG_GROUP_KINDS = ("DAGProcessing", "Scheduler", "Task", "WebServer", "Worker")  # MWAA's airflow-<environment>-<kind>


def environment_log_groups(name: str) -> list[str]:
    """The CloudWatch log groups MWAA writes an environment's logs to, and keeps after deleting it: those its
    LoggingConfiguration names, and every airflow-<name>-<kind> (a log type enabled earlier has one too)."""
    groups = {f"airflow-{name}-{kind}" for kind in LOG_GROUP_KINDS}
    if mwaa.status(name) is not None:
        for setting in (mwaa.describe(name).get("LoggingConfiguration") or {}).values():
            if setting.get("CloudWatchLogGroupArn"):
                groups.add(setting["CloudWatchLogGroupArn"].split(":log-group:", 1)[1].removesuffix(":*"))
    return sorted(groups)


def _stack_owned(arns: list[str]) -> set[str]:
    """ARNs of resources a tagged stack created: the stack's deletion removes them (they carry its tags)."""
    cfn = cloud.client("cloudformation")
    physical = set()
    for arn in arns:
        if _kind(arn) == "cloudformation":
            for res in cfn.describe_stack_resources(StackName=arn)["StackResources"]:
                physical.add(res.get("PhysicalResourceId"))
    return {arn for arn in arns if arn.rsplit("/", 1)[-1] in physical or arn.split(":::", 1)[-1] in physical}


def delete_tagged(notebook: str | None = None) -> pd.DataFrame:
    """Delete every resource tagged for `notebook` (all of the workbook's if None). Returns what was deleted."""
    found = tagged_resources(notebook).arn.tolist()
    owned = _stack_owned(found)
    found = [arn for arn in found if arn not in owned]
    found.sort(key=lambda arn: ORDER.index(_kind(arn)) if _kind(arn) in ORDER else len(ORDER))
    rows = []
    for arn in found:
        try:
            delete_arn(arn)
            rows.append({"arn": arn, "deleted": True})
        except botocore.exceptions.ClientError as exc:
            rows.append({"arn": arn, "deleted": False, "error": exc.response["Error"]["Code"]})
    return pd.DataFrame(rows, columns=["arn", "deleted", "error"])


def airflow_processes(environment: str | None = None) -> list[psutil.Process]:
    """Airflow processes of local MWAA environments (their working folder is under the workbook's state)."""
    root = state_dir() / "localcloud" / "mwaa" / environment if environment else state_dir()
    return processes_under(root)


def listening_ports(processes: list[psutil.Process]) -> list[int]:
    ports = []
    for proc in processes:
        try:
            ports += [c.laddr.port for c in proc.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return sorted(ports)
