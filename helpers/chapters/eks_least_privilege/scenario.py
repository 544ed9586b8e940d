"""Notebook 06's plumbing: names, waiting for EKS, variants of the post's DAG for the checkpoints, the "who trusts whom"
figure, clean-up and the proof that nothing is left. The calls the lesson is about (buckets, parameters, the OIDC
provider, the IRSA roles and their policies, the cluster, the manifests, the DAG runs) are in the notebook."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pandas as pd

from helpers.aws import cleanup, cloud, eks, iam, mwaa, s3, tags
from helpers.errors import WorkbookError
from helpers.paths import DAGS_DIR
from helpers.procs import wait_until

NOTEBOOK = "06_eks_least_privilege"
DAG_FILE = "eks_least_privilege.py"
DAG_ID = "eks_least_privilege"
CLUSTER = "data-cluster"  # the post's cluster name, which the DAG's default_args name
NODEGROUP = "node-group"
NAMESPACE = "mwaa"
PARAMETERS = ("mwaa_source_bucket", "mwaa_destination_bucket")  # the post's SSM parameters, read by the pods
READER_SA, WRITER_SA = "source-bucket-reader-sa", "destination-bucket-writer-sa"
READER_ROLE, WRITER_ROLE = "mwaa-workbook-06-source-bucket-reader", "mwaa-workbook-06-destination-bucket-writer"
CLUSTER_ROLE, NODE_ROLE = "mwaa-workbook-06-eks-cluster", "mwaa-workbook-06-eks-node"
EXERCISE_DAG = "eks_least_privilege_exercise"
EXECUTION_POLICY = "mwaa-workbook-06-eks"  # added to the environment's execution role: eks:DescribeCluster
SA_LINE = re.compile(r'^(?P<indent>\s*)service_account_name="(?P<sa>[^"]*)",\n', re.MULTILINE)


# --- waiting ------------------------------------------------------------------------------------------------------

def wait_for_cluster(name: str = CLUSTER, timeout: float = 1800) -> dict:
    """DescribeCluster until ACTIVE (about 10 minutes on AWS, at once locally). Returns the cluster."""
    api = cloud.client("eks")
    wait_until(lambda: api.describe_cluster(name=name)["cluster"]["status"] == "ACTIVE", timeout,
               f"EKS cluster {name} ACTIVE", interval=10 if not cloud.settings().is_local else 0.5, progress=True,
               failed=lambda: "FAILED" if api.describe_cluster(name=name)["cluster"]["status"] == "FAILED" else None)
    return api.describe_cluster(name=name)["cluster"]


def wait_for_nodegroup(cluster: str = CLUSTER, nodegroup: str = NODEGROUP, timeout: float = 1800) -> dict:
    api = cloud.client("eks")

    def status() -> str:
        return api.describe_nodegroup(clusterName=cluster, nodegroupName=nodegroup)["nodegroup"]["status"]

    wait_until(lambda: status() == "ACTIVE", timeout, f"node group {nodegroup} ACTIVE",
               interval=10 if not cloud.settings().is_local else 0.5, progress=True,
               failed=lambda: status() if status() in {"CREATE_FAILED", "DEGRADED"} else None)
    return api.describe_nodegroup(clusterName=cluster, nodegroupName=nodegroup)["nodegroup"]


def cluster_exists(name: str = CLUSTER) -> bool:
    return eks.cluster_exists(name)


def oidc_provider_arn(issuer: str) -> str:
    """The IAM OIDC provider's ARN for an issuer URL: IAM names it by the URL without its scheme."""
    return f"arn:aws:iam::{cloud.account_id()}:oidc-provider/{issuer.removeprefix('https://')}"


def service_role(name: str, trust: dict, managed_policies: list[str], description: str) -> str:
    """The cluster's or the nodes' role (what the post's EKS Blueprints module makes): created (or reused) under the
    workbook's path with the notebook's tags, the AWS managed policies attached. Prints what it sent. Returns the ARN."""
    import json

    api = cloud.client("iam")
    try:
        arn = api.create_role(RoleName=name, Path=iam.PATH, AssumeRolePolicyDocument=json.dumps(trust),
                              Description=description, Tags=tags.tag_list(NOTEBOOK))["Role"]["Arn"]
    except api.exceptions.EntityAlreadyExistsException:
        arn = api.get_role(RoleName=name)["Role"]["Arn"]
    missing = []
    for policy in managed_policies:
        try:
            api.attach_role_policy(RoleName=name, PolicyArn=policy)
        except api.exceptions.NoSuchEntityException:
            if not cloud.settings().is_local:
                raise
            missing.append(policy.rsplit("/", 1)[-1])  # moto loads no AWS managed policies unless told to
    principal = trust["Statement"][0]["Principal"]["Service"]
    print(f"CreateRole {name} (trusts {principal}), AttachRolePolicy {', '.join(p.rsplit('/', 1)[-1] for p in managed_policies)}")
    if missing:
        print(f"  (AWS managed policies {', '.join(missing)}: not in the local cloud, whose EKS does not check them)")
    return arn


# --- the DAG and its variants -------------------------------------------------------------------------------------

def dag_source() -> str:
    return (DAGS_DIR / DAG_FILE).read_text()


def variant(dag_id: str, service_accounts: dict[str, str | None]) -> str:
    """The post's DAG with another dag_id and other service accounts: task_id -> account name, or None to remove the
    task's `service_account_name` line (the pod then runs under the namespace's `default` account). Everything else is
    the post's DAG, line for line, so a checkpoint's run differs from the real one in exactly these lines."""
    text = dag_source().replace(f'dag_id="{DAG_ID}"', f'dag_id="{dag_id}"', 1)
    if f'dag_id="{dag_id}"' not in text:
        raise WorkbookError(f"{DAG_FILE} has no dag_id=\"{DAG_ID}\" line to rename")
    blocks = re.split(r"(?m)^(?=\s*\w+ = EksPodOperator\()", text)
    seen = set()
    for i, block in enumerate(blocks):
        task = re.search(r'task_id="([^"]+)"', block)
        if task and task.group(1) in service_accounts:
            wanted = service_accounts[task.group(1)]
            if not SA_LINE.search(block):
                raise WorkbookError(f"task {task.group(1)} has no service_account_name line")
            blocks[i] = SA_LINE.sub("" if wanted is None else rf'\g<indent>service_account_name="{wanted}",\n', block, 1)
            seen.add(task.group(1))
    unknown = sorted(set(service_accounts) - seen)
    if unknown:
        raise WorkbookError(f"{DAG_FILE} has no EksPodOperator task {', '.join(unknown)}")
    return "".join(blocks)


def diff(new_source: str, name: str) -> str:
    """What a variant changes in the post's DAG, as a unified diff."""
    lines = difflib.unified_diff(dag_source().splitlines(keepends=True), new_source.splitlines(keepends=True),
                                 f"dags/{DAG_FILE}", name, n=0)
    return "".join(line for line in lines if not line.startswith("@@"))


def task_log_lines(lines: list[str], *needles: str) -> list[str]:
    """The lines of a task log that contain any of `needles` (what a checkpoint shows of a failed pod's log)."""
    return [line.strip() for line in lines if any(needle in line for needle in needles)]


# --- the figure ---------------------------------------------------------------------------------------------------

# (label, x, y, width, colour): who trusts whom, left to right: the MWAA execution role, the cluster's view of it, the
# two service accounts, the roles they may become (the OIDC provider both trust between them), and the only resources
# each role may touch.
_BOXES = {
    "execution": ("MWAA execution role\n(Airflow's workers)\neks:DescribeCluster only", 0.2, 2.9, 2.3, "#d5f5e3"),
    "cluster": ("EKS cluster data-cluster\naws-auth: role → user\nmwaa-executor\nRBAC: pods in mwaa only", 3.2, 2.9, 2.5, "#d6eaf8"),
    "reader_sa": ("service account\nsource-bucket-reader-sa\n(pod of read_bucket)", 6.6, 4.5, 2.6, "#fdebd0"),
    "writer_sa": ("service account\ndestination-bucket-writer-sa\n(pod of write_bucket)", 6.6, 1.3, 2.6, "#fdebd0"),
    "oidc": ("IAM OIDC provider =\nthe cluster's issuer\nclient ID sts.amazonaws.com", 10.9, 2.9, 2.9, "#e8daef"),
    "reader_role": ("IAM role source-bucket-reader\ntrusts sub system:serviceaccount:\nmwaa:source-bucket-reader-sa\n"
                    "allows s3:ListBucket, ssm:GetParameter", 10.9, 4.5, 2.9, "#fadbd8"),
    "writer_role": ("IAM role destination-bucket-writer\ntrusts sub system:serviceaccount:\nmwaa:destination-bucket-writer-sa\n"
                    "allows s3:PutObject, ssm:GetParameter", 10.9, 1.3, 2.9, "#fadbd8"),
    "source": ("source bucket\n(ListBucket)\nparameter\nmwaa_source_bucket", 14.5, 4.5, 2.0, "#ebedef"),
    "destination": ("destination bucket/*\n(PutObject)\nparameter\nmwaa_destination_bucket", 14.5, 1.3, 2.0, "#ebedef"),
}
_HEIGHT = 1.0
_ARROWS = [  # (from, to, label, colour, dashed)
    ("execution", "cluster", "EKS token", "#1e8449", False),
    ("cluster", "reader_sa", "runs the pod under", "#2471a3", False),
    ("cluster", "writer_sa", "runs the pod under", "#2471a3", False),
    ("cluster", "oidc", "signs each pod's service-account token", "#7d3c98", True),
    ("reader_sa", "reader_role", "AssumeRoleWith-\nWebIdentity", "#a04000", False),
    ("writer_sa", "writer_role", "AssumeRoleWith-\nWebIdentity", "#a04000", False),
    ("oidc", "reader_role", "trusted by", "#7d3c98", True),
    ("oidc", "writer_role", "trusted by", "#7d3c98", True),
    ("reader_role", "source", "", "#2c3e50", False),
    ("writer_role", "destination", "", "#2c3e50", False),
]


def trust_figure(name: str = f"{NOTEBOOK}_who_trusts_whom") -> Path:
    """MWAA execution role → cluster (access mapping, RBAC) → service account → IAM role (trusting the cluster's OIDC
    provider for that account's `sub` and `aud`) → the one bucket and parameter it may use. Saved under build/plots/."""
    from helpers.tooling.charts import box_diagram

    note = ("Each arrow is a check: the API server checks the EKS token, aws-auth and RBAC; STS checks the pod's token "
            "(issuer, signature, aud, sub)\nagainst the role's trust policy; S3 and SSM check the role's policy. "
            "The execution role itself needs no S3 or SSM permission for the pods' work.")
    return box_diagram(_BOXES, _ARROWS, (16.5, 6.4), (16.6, 5.9),
                       "Who trusts whom: least privilege per pod with MWAA, EKS and IAM roles for service accounts", name,
                       height=_HEIGHT, note=note)


# --- clean-up -----------------------------------------------------------------------------------------------------

def clean_up(environment: str, issuer: str | None) -> pd.DataFrame:
    """Everything notebook 06 made: the DAGs in the environment (the post's, the checkpoints' variants, the exercise's),
    the cluster and its node group, the OIDC provider, the parameters, then whatever else carries the notebook's tag
    (buckets, roles). One row per resource, with whether it was deleted."""
    rows = []
    bucket, prefix = mwaa.source_bucket(environment)
    api = mwaa.AirflowApi(environment)
    deployed = sorted(dag_id for dag_id in api.dags().dag_id if dag_id.startswith(DAG_ID))
    for key in s3.list_keys(bucket, prefix):  # every file first: the environment drops them in one sync
        if Path(key).name.startswith(DAG_ID):
            cloud.client("s3").delete_object(Bucket=bucket, Key=key)
            rows.append({"resource": f"s3://{bucket}/{key}", "deleted": True})
    for dag_id in deployed:
        api.wait_for_dag(dag_id, present=False, timeout=120)
        api.delete_dag(dag_id)
        rows.append({"resource": f"dag {dag_id}", "deleted": True})
    if mwaa.revoke(environment, EXECUTION_POLICY):
        rows.append({"resource": f"execution role policy {EXECUTION_POLICY}", "deleted": True})
    rows += [{"resource": f"eks {done}", "deleted": True} for done in eks.delete_cluster(CLUSTER)]
    iam_client = cloud.client("iam")
    if issuer and not eks.missing(lambda: iam_client.get_open_id_connect_provider(OpenIDConnectProviderArn=oidc_provider_arn(issuer))):
        iam_client.delete_open_id_connect_provider(OpenIDConnectProviderArn=oidc_provider_arn(issuer))
        rows.append({"resource": f"oidc-provider {issuer.removeprefix('https://')}", "deleted": True})
    ssm = cloud.client("ssm")
    for name in PARAMETERS:
        if not eks.missing(lambda n=name: ssm.get_parameter(Name=n)):
            ssm.delete_parameter(Name=name)
            rows.append({"resource": f"ssm parameter {name}", "deleted": True})
    for role in (READER_ROLE, WRITER_ROLE, CLUSTER_ROLE, NODE_ROLE):
        if iam.delete_role(role):
            rows.append({"resource": f"iam role {role}", "deleted": True})
    tagged = cleanup.delete_tagged(NOTEBOOK)
    rows += [{"resource": arn, "deleted": bool(done)} for arn, done in zip(tagged.arn, tagged.deleted, strict=True)]
    return pd.DataFrame(rows, columns=["resource", "deleted"])


def leftovers(issuer: str | None) -> pd.DataFrame:
    """What of notebook 06 still exists: tagged resources, the cluster, the OIDC provider, the parameters, the roles."""
    found = [{"what": "tagged", "name": arn} for arn in tags.tagged_resources(NOTEBOOK).arn]
    iam_client, ssm = cloud.client("iam"), cloud.client("ssm")
    if eks.cluster_exists(CLUSTER):
        found.append({"what": "eks cluster", "name": CLUSTER})
    if issuer and not eks.missing(lambda: iam_client.get_open_id_connect_provider(OpenIDConnectProviderArn=oidc_provider_arn(issuer))):
        found.append({"what": "oidc provider", "name": issuer})
    found += [{"what": "ssm parameter", "name": n} for n in PARAMETERS if not eks.missing(lambda n=n: ssm.get_parameter(Name=n))]
    found += [{"what": "iam role", "name": r} for r in (READER_ROLE, WRITER_ROLE, CLUSTER_ROLE, NODE_ROLE)
              if not eks.missing(lambda r=r: iam_client.get_role(RoleName=r))]
    return pd.DataFrame(found, columns=["what", "name"])
