"""Notebook 06's pieces that run without a Kubernetes API: the manifests, the post's DAG and its variants as the pods
EksPodOperator would create (dry run), the EKS token, the pod lifecycle table, applying manifests, the figure, and the
clean-up of what the chapter adds to the workbook's tag-based clean-up (SSM parameters, OIDC providers, EKS)."""

from __future__ import annotations

import base64
import json
import urllib.parse
from types import SimpleNamespace

import boto3
import pytest

from helpers.chapters.eks_least_privilege import kube, pod_lifecycle, scenario
from helpers.errors import WorkbookError

ACCOUNT = "123456789012"
VALUES = {"reader_role_arn": f"arn:aws:iam::{ACCOUNT}:role/mwaa-workbook/reader",
          "writer_role_arn": f"arn:aws:iam::{ACCOUNT}:role/mwaa-workbook/writer",
          "execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/exec", "node_role_arn": f"arn:aws:iam::{ACCOUNT}:role/node"}


# --- manifests ----------------------------------------------------------------------------------------------------

def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def test_the_manifests_need_every_placeholder_and_fill_them_in():
    assert kube.placeholders() == set(VALUES)
    with pytest.raises(WorkbookError, match="need values for writer_role_arn"):
        kube.render({k: v for k, v in VALUES.items() if k != "writer_role_arn"})
    objects = kube.render(VALUES)
    assert "${" not in json.dumps(objects)
    accounts = {sa["metadata"]["name"]: sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
                for sa in by_kind(objects, "ServiceAccount")}
    assert accounts == {scenario.READER_SA: VALUES["reader_role_arn"], scenario.WRITER_SA: VALUES["writer_role_arn"]}
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {"mwaa", "kube-system"}


def test_the_role_grants_what_the_operator_calls_in_namespace_mwaa_only():
    objects = kube.render(VALUES)
    [role], [binding] = by_kind(objects, "Role"), by_kind(objects, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "mwaa"
    granted = {(res, verb) for rule in role["rules"] for res in rule["resources"] for verb in rule["verbs"]}
    # what cncf-kubernetes 10.21's PodManager and KubernetesPodOperator call in sync mode with do_xcom_push
    needed = {("pods", "create"), ("pods", "get"), ("pods", "list"), ("pods", "patch"), ("pods", "delete"),
              ("pods/log", "get"), ("pods/exec", "create"), ("pods/exec", "get"), ("events", "list")}
    assert needed <= granted
    assert not any(verb in {"*", "watch", "update"} for _, verb in granted)
    assert not by_kind(objects, "ClusterRole") and not by_kind(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "User", "name": "mwaa-executor", "apiGroup": "rbac.authorization.k8s.io"}]


def test_aws_auth_maps_the_execution_role_to_mwaa_executor_in_no_group_and_keeps_the_nodes():
    import yaml

    [config] = by_kind(kube.render(VALUES), "ConfigMap")
    assert (config["metadata"]["name"], config["metadata"]["namespace"]) == ("aws-auth", "kube-system")
    roles = {m["rolearn"]: m for m in yaml.safe_load(config["data"]["mapRoles"])}
    assert roles[VALUES["execution_role_arn"]]["username"] == "mwaa-executor"
    assert roles[VALUES["execution_role_arn"]]["groups"] == []
    assert "system:nodes" in roles[VALUES["node_role_arn"]]["groups"]


def test_aws_auth_role_arns_lose_their_path():
    assert kube.role_arn_for_aws_auth(f"arn:aws:iam::{ACCOUNT}:role/mwaa-workbook/exec") == f"arn:aws:iam::{ACCOUNT}:role/exec"
    assert kube.role_arn_for_aws_auth(f"arn:aws:iam::{ACCOUNT}:role/exec") == f"arn:aws:iam::{ACCOUNT}:role/exec"


def test_apply_creates_then_replaces_an_existing_object(monkeypatch):
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException

    calls, existing = [], set()

    class Core:
        def __init__(self, api):
            pass

        def create_namespaced_service_account(self, namespace, body):
            key = (namespace, body["metadata"]["name"])
            if key in existing:
                raise ApiException(status=409, reason="Conflict")
            existing.add(key)
            calls.append(("create", key))

        def replace_namespaced_service_account(self, name, namespace, body):
            calls.append(("replace", (namespace, name)))

    monkeypatch.setattr(k8s, "CoreV1Api", Core)
    monkeypatch.setattr(k8s, "RbacAuthorizationV1Api", lambda api: None)
    accounts = by_kind(kube.render(VALUES), "ServiceAccount")
    assert kube.apply(object(), accounts) == [f"created ServiceAccount mwaa/{scenario.READER_SA}",
                                              f"created ServiceAccount mwaa/{scenario.WRITER_SA}"]
    assert kube.apply(object(), accounts[:1]) == [f"configured ServiceAccount mwaa/{scenario.READER_SA}"]
    assert calls[-1] == ("replace", ("mwaa", scenario.READER_SA))
    with pytest.raises(WorkbookError, match="applies only"):
        kube.apply(object(), [{"kind": "Deployment", "metadata": {"name": "x", "namespace": "mwaa"}}])


# --- the DAG, its variants, and the pods they would create ----------------------------------------------------------

def tasks_of(source: str) -> dict:
    """The EksPodOperator tasks a DAG source defines, by task_id (parsed here: no scheduler, no cluster)."""
    from airflow.providers.amazon.aws.operators.eks import EksPodOperator

    namespace: dict = {"__name__": "dag_under_test"}
    exec(compile(source, scenario.DAG_FILE, "exec"), namespace)
    return {v.task_id: v for v in namespace.values() if isinstance(v, EksPodOperator)}


@pytest.fixture(scope="module")
def post_tasks():
    return tasks_of(scenario.dag_source())


def test_the_post_dag_builds_the_pods_of_the_post(post_tasks):
    read, write = post_tasks["read_bucket"], post_tasks["write_bucket"]
    assert read.dag.dag_id == scenario.DAG_ID and read.dag.schedule is None
    assert list(read.downstream_task_ids) == ["write_bucket"]
    for op in (read, write):
        assert (op.cluster_name, op.namespace, op.get_logs, op.on_finish_action.value) == ("data-cluster", "mwaa", True, "delete_pod")
    pods = {task: op.build_pod_request_obj(dry_run=True) for task, op in post_tasks.items()}
    assert pods["read_bucket"].spec.service_account_name == scenario.READER_SA
    assert pods["write_bucket"].spec.service_account_name == scenario.WRITER_SA
    base = pods["read_bucket"].spec.containers[0]
    assert (base.image, base.command) == ("amazon/aws-cli:latest", ["sh", "-c"])
    assert "--name mwaa_source_bucket" in base.args[0] and base.args[0].endswith("> /airflow/xcom/return.json")
    # do_xcom_push on read_bucket only: its pod gets the sidecar that serves /airflow/xcom/return.json
    assert [c.name for c in pods["read_bucket"].spec.containers] == ["base", "airflow-xcom-sidecar"]
    assert [c.name for c in pods["write_bucket"].spec.containers] == ["base"]
    assert pods["read_bucket"].metadata.name.startswith("read-bucket-")


def test_the_writer_gets_the_listing_as_list_json(post_tasks):
    write = post_tasks["write_bucket"]
    listing = {"Contents": [{"Key": "dummy.txt", "Size": 0}]}
    ti = SimpleNamespace(xcom_pull=lambda task_ids: listing if task_ids == "read_bucket" else None)
    [command] = write.render_template(write.arguments, {"task_instance": ti})
    assert command.startswith(f"echo '{json.dumps(listing)}' > list.json; aws s3 cp list.json s3://$(")
    assert "--name mwaa_destination_bucket" in command


def test_a_variant_changes_only_the_dag_id_and_the_service_accounts():
    swapped = scenario.variant("eks_least_privilege_swapped", {"read_bucket": scenario.WRITER_SA,
                                                               "write_bucket": scenario.READER_SA})
    changed = [line for line in scenario.diff(swapped, "swapped.py").splitlines() if line[:1] in "+-"
               and not line.startswith(("---", "+++"))]
    assert len(changed) == 6 and sum("service_account_name" in line for line in changed) == 4
    pods = {t: op.build_pod_request_obj(dry_run=True) for t, op in tasks_of(swapped).items()}
    assert pods["read_bucket"].spec.service_account_name == scenario.WRITER_SA
    assert pods["write_bucket"].spec.service_account_name == scenario.READER_SA
    anonymous = tasks_of(scenario.variant("eks_least_privilege_no_sa", {"read_bucket": None}))
    assert anonymous["read_bucket"].dag.dag_id == "eks_least_privilege_no_sa"
    assert anonymous["read_bucket"].build_pod_request_obj(dry_run=True).spec.service_account_name is None
    assert anonymous["write_bucket"].build_pod_request_obj(dry_run=True).spec.service_account_name == scenario.WRITER_SA


def test_a_variant_of_a_task_the_dag_lacks_is_refused():
    with pytest.raises(WorkbookError, match="no EksPodOperator task delete_bucket"):
        scenario.variant("x", {"delete_bucket": None})


# --- the EKS token ------------------------------------------------------------------------------------------------

def test_the_token_is_a_presigned_get_caller_identity_bound_to_the_cluster(monkeypatch):
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="eu-west-1")
    monkeypatch.setattr(kube.cloud, "session", lambda: session)
    monkeypatch.setattr(kube.cloud, "client", lambda service: session.client(service))
    bearer = kube.token("data-cluster")
    assert bearer.startswith("k8s-aws-v1.") and "=" not in bearer
    url = urllib.parse.urlsplit(kube.presigned_url(bearer))
    query = dict(urllib.parse.parse_qsl(url.query))
    assert url.netloc == "sts.eu-west-1.amazonaws.com"
    assert (query["Action"], query["X-Amz-Expires"]) == ("GetCallerIdentity", "60")
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert query["X-Amz-Credential"].startswith("AKIDEXAMPLE/")
    assert kube.token("other-cluster") != bearer
    with pytest.raises(WorkbookError, match="not an EKS token"):
        kube.presigned_url(base64.b64encode(b"x").decode())


# --- what happened to the pods ------------------------------------------------------------------------------------

def test_the_lifecycle_table_collapses_samples_into_phases():
    samples = [(0.0, "read-bucket-a", "read_bucket", "Pending"), (0.5, "read-bucket-a", "read_bucket", "Pending"),
               (1.0, "read-bucket-a", "read_bucket", "Running"), (3.0, "read-bucket-a", "read_bucket", "Succeeded"),
               (3.5, "read-bucket-a", "read_bucket", "deleted"), (4.0, "write-bucket-b", "write_bucket", "Pending"),
               (5.0, "write-bucket-b", "write_bucket", "Failed")]
    table = pod_lifecycle.table(samples)
    assert table.task.tolist() == ["read_bucket", "write_bucket"]
    assert table.phases.tolist() == ["Pending → Running → Succeeded → deleted", "Pending → Failed"]
    assert table.to_running_s.tolist()[0] == 1.0 and table.to_end_s.tolist() == [3.0, 1.0]


def test_the_watch_samples_a_pod_that_disappears_as_deleted(monkeypatch):
    from kubernetes import client as k8s

    listed = [[SimpleNamespace(metadata=SimpleNamespace(name="p", labels={"task_id": "t"}), status=SimpleNamespace(phase=phase))]
              for phase in ("Pending", "Running")] + [[], []]

    class Core:
        def __init__(self, api):
            pass

        def list_namespaced_pod(self, namespace, label_selector):
            assert (namespace, label_selector) == ("mwaa", "dag_id=d")
            return SimpleNamespace(items=listed.pop(0))

    monkeypatch.setattr(k8s, "CoreV1Api", Core)
    watch = pod_lifecycle.PodWatch(object(), "mwaa", "dag_id=d")
    watch._start = 0.0
    for _ in range(4):
        watch.sample()
    assert [phase for *_, phase in watch.samples] == ["Pending", "Running", "deleted"]


# --- the figure ---------------------------------------------------------------------------------------------------

def test_the_trust_figure_is_saved_as_a_png():
    from helpers.paths import plots_dir

    path = scenario.trust_figure("test_who_trusts_whom")
    assert path.parent == plots_dir() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000  # boxes, arrows and text, not an empty canvas


# --- clean-up of the chapter's new kinds of resource -------------------------------------------------------------

def test_clean_up_finds_and_deletes_parameters_oidc_providers_and_clusters(module_cloud):
    from helpers.aws import cleanup, cloud, eks, tags

    notebook = "96_eks_cleanup_test"
    ssm, iam, eks_client = cloud.client("ssm"), cloud.client("iam"), cloud.client("eks")
    ssm.put_parameter(Name="test_eks_param", Value="x", Type="SecureString", Tags=tags.tag_list(notebook))
    provider = iam.create_open_id_connect_provider(Url="https://oidc.example.test/id/ABC", ClientIDList=["sts.amazonaws.com"],
                                                   ThumbprintList=["a" * 40], Tags=tags.tag_list(notebook))["OpenIDConnectProviderArn"]
    assert provider in set(tags.tagged_resources(notebook).arn)
    cleanup.delete_arn(provider)
    cleanup.delete_arn(f"arn:aws:ssm:{cloud.settings().region}:{cloud.account_id()}:parameter/test_eks_param")
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name="test_eks_param")
    vpc = {"subnetIds": ["subnet-1", "subnet-2"]}
    cluster = eks_client.create_cluster(name="test-eks-cleanup", roleArn=f"arn:aws:iam::{ACCOUNT}:role/r", resourcesVpcConfig=vpc,
                                        tags=tags.tags(notebook))
    eks_client.create_cluster(name="test-eks-not-ours", roleArn=f"arn:aws:iam::{ACCOUNT}:role/r", resourcesVpcConfig=vpc)
    assert set(tags.tagged_resources(notebook).arn) == {cluster["cluster"]["arn"]}
    eks_client.create_nodegroup(clusterName="test-eks-cleanup", nodegroupName="ng", nodeRole=f"arn:aws:iam::{ACCOUNT}:role/n",
                                subnets=vpc["subnetIds"])
    cleanup.delete_arn(cluster["cluster"]["arn"])
    assert not eks.cluster_exists("test-eks-cleanup")
    assert eks.delete_cluster("test-eks-cleanup") == []


def test_the_api_client_uses_the_cluster_endpoint_its_ca_and_a_fresh_token_per_request(monkeypatch):
    cluster = {"status": "ACTIVE", "endpoint": "https://127.0.0.1:6443",
               "certificateAuthority": {"data": base64.b64encode(b"PEM").decode()}}
    fake_eks = SimpleNamespace(describe_cluster=lambda name: {"cluster": cluster} if name == "data-cluster" else None)
    monkeypatch.setattr(kube.cloud, "client", lambda service: fake_eks)
    tokens = iter(["k8s-aws-v1.first", "k8s-aws-v1.second"])
    monkeypatch.setattr(kube, "token", lambda name: next(tokens))
    config = kube.api_client("data-cluster").configuration
    assert config.host == "https://127.0.0.1:6443" and open(config.ssl_ca_cert, "rb").read() == b"PEM"
    assert config.auth_settings()["BearerToken"]["value"] == "Bearer k8s-aws-v1.second"  # refreshed before use
    cluster["status"] = "CREATING"
    with pytest.raises(WorkbookError, match="CREATING, not ACTIVE"):
        kube.api_client("data-cluster")


def test_the_events_of_deleted_pods_come_in_time_order(monkeypatch):
    from datetime import UTC, datetime

    from kubernetes import client as k8s

    def event(reason, second):
        return SimpleNamespace(reason=reason, message=reason.lower(),
                               last_timestamp=datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC), event_time=None,
                               first_timestamp=None, metadata=SimpleNamespace(creation_timestamp=None))

    class Core:
        def __init__(self, api):
            pass

        def list_namespaced_event(self, namespace, field_selector):
            assert field_selector == "involvedObject.name=p"
            return SimpleNamespace(items=[event("Started", 3), event("Scheduled", 1), event("Killing", 9)])

    monkeypatch.setattr(k8s, "CoreV1Api", Core)
    assert pod_lifecycle.events(object(), "mwaa", ["p"]).reason.tolist() == ["Scheduled", "Started", "Killing"]
