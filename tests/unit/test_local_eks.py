"""The local EKS: clusters from boto3 with a working endpoint, CA and OIDC issuer; the Kubernetes API subset the
EksPodOperator uses (pods as local processes, logs, exec, events), EKS token authentication, aws-auth and RBAC, the
image table, IRSA's projected token checked against the issuer's JWKS."""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import time
import urllib.request
from contextlib import contextmanager

import jwt
import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from helpers import localcloud
from helpers.aws import cloud
from helpers.localcloud.emulators.eks import images
from helpers.localcloud.processes import is_same_process
from tests.conftest import cloud_in

ACCOUNT = localcloud.LOCAL_ACCOUNT_ID
NS = "mwaa"
SIDECAR = {"name": "airflow-xcom-sidecar", "image": "alpine:3.24.1",
           "command": ["sh", "-c", 'trap "exit 0" INT; while true; do sleep 1; done;'],
           "volumeMounts": [{"name": "xcom", "mountPath": "/airflow/xcom"}]}


@pytest.fixture(scope="module")
def module_cloud(tmp_path_factory):
    """This module's local cloud, started as from a non-interactive shell's background job (`make test &`, CI
    runners): SIGINT and SIGQUIT ignored, which its processes inherit. Pods must still start with default signals,
    or the XCom sidecar cannot be stopped (test_xcom_sidecar_kill_signals_only_the_container)."""
    saved = {number: signal.signal(number, signal.SIG_IGN) for number in (signal.SIGINT, signal.SIGQUIT)}
    try:
        with cloud_in(tmp_path_factory.mktemp("cloud") / "state", start=True) as cloud:
            for number, handler in saved.items():
                signal.signal(number, handler)
            yield cloud
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


@pytest.fixture(scope="module")
def eks(module_cloud):
    for name, value in localcloud.exports().items():
        module_cloud.patch.setenv(name, value)
    return cloud.client("eks")


def _cluster(eks, name: str) -> dict:
    try:
        return eks.describe_cluster(name=name)["cluster"]
    except eks.exceptions.ResourceNotFoundException:
        return eks.create_cluster(name=name, roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks-cluster-role",
                                  resourcesVpcConfig={"subnetIds": []})["cluster"]


@contextmanager
def _credentials(monkeypatch_env: dict[str, str]):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in monkeypatch_env.items():
            patch.setenv(name, value)
        if "AWS_SESSION_TOKEN" not in monkeypatch_env:
            patch.delenv("AWS_SESSION_TOKEN", raising=False)
        yield


def _token(cluster: str, credentials: dict[str, str] | None = None) -> str:
    """A bearer token made as the operator's kubeconfig makes it (eks_get_token)."""
    from airflow.providers.amazon.aws.utils.eks_get_token import fetch_access_token_for_cluster

    env = localcloud.exports()
    with _credentials(credentials or {}):
        return fetch_access_token_for_cluster(cluster, f"{env['AWS_ENDPOINT_URL']}/?Action=GetCallerIdentity"
                                                       "&Version=2011-06-15", env["AWS_REGION"])


def _ca_file(described: dict, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(base64.b64decode(described["certificateAuthority"]["data"]))
    return str(path)


def _api(described: dict, token: str, ca: str) -> k8s.CoreV1Api:
    config = k8s.Configuration()
    config.host = described["endpoint"]
    config.ssl_ca_cert = ca
    config.api_key = {"authorization": f"Bearer {token}"}
    return k8s.CoreV1Api(k8s.ApiClient(config))


@pytest.fixture(scope="module")
def admin(eks, tmp_path_factory):
    """The cluster creator's client (EKS's bootstrap admin) for cluster `data-cluster`, and namespace `mwaa`."""
    described = _cluster(eks, "data-cluster")
    ca = _ca_file(described, tmp_path_factory)
    api = _api(described, _token("data-cluster"), ca)
    api.create_namespace({"metadata": {"name": NS}})
    return api, described, ca


def _wait_phase(api, name: str, phases: tuple[str, ...], timeout: float = 30) -> k8s.V1Pod:
    deadline = time.monotonic() + timeout
    while True:
        pod = api.read_namespaced_pod(name, NS)
        if pod.status.phase in phases or time.monotonic() > deadline:
            return pod
        time.sleep(0.05)


def _state(pod: k8s.V1Pod, container: str):
    return next(s.state for s in pod.status.container_statuses or [] if s.name == container)


def test_create_cluster_returns_endpoint_ca_and_issuer(eks, admin):
    _, described, _ = admin
    assert described["status"] == "ACTIVE"
    assert described["endpoint"].startswith("https://127.0.0.1:")
    assert base64.b64decode(described["certificateAuthority"]["data"]).startswith(b"-----BEGIN CERTIFICATE-----")
    issuer = described["identity"]["oidc"]["issuer"]
    prefix, _, cluster_id = issuer.rpartition("/id/")
    assert prefix.startswith("https://127.0.0.1:") and len(cluster_id) == 32 and cluster_id == cluster_id.upper()
    assert eks.describe_cluster(name="data-cluster")["cluster"]["endpoint"] == described["endpoint"]
    group = eks.create_nodegroup(clusterName="data-cluster", nodegroupName="ng", nodeRole=f"arn:aws:iam::{ACCOUNT}:role/n",
                                 subnets=["subnet-1"])["nodegroup"]
    assert group["status"] == "ACTIVE"


def test_pod_runs_as_processes_logs_follow_exec_and_delete(admin):
    api, _, _ = admin
    api.create_namespaced_service_account(NS, {"metadata": {"name": "no-role-sa"}})
    base = {"name": "base", "image": "amazon/aws-cli:2.15.0", "command": ["sh", "-c"],
            "args": ["aws --version; echo '{\"n\": 1}' > /airflow/xcom/return.json; aws sts get-caller-identity"],
            "volumeMounts": [{"name": "xcom", "mountPath": "/airflow/xcom"}]}
    created = time.monotonic()
    api.create_namespaced_pod(NS, {"metadata": {"name": "lister", "labels": {"app": "t", "try": "1"}}, "spec": {
        "restartPolicy": "Never", "serviceAccountName": "no-role-sa", "containers": [base, SIDECAR],
        "volumes": [{"name": "xcom", "emptyDir": {}}]}})
    pod = _wait_phase(api, "lister", ("Running", "Succeeded", "Failed"))
    latency = time.monotonic() - created
    print(f"pod start latency (create -> Running): {latency:.2f} s")
    assert pod.status.phase == "Running" and latency < 5
    assert any(c.type == "PodScheduled" and c.status == "True" for c in pod.status.conditions)
    assert pod.status.pod_ip == "127.0.0.1"

    logs = api.read_namespaced_pod_log("lister", NS, container="base", follow=True, timestamps=True,
                                       _preload_content=False)
    lines = [line.decode() for line in logs.stream()]
    text = "".join(lines)
    assert lines[0].split(" ", 1)[0].endswith("Z") and "aws-cli/1." in lines[0]
    assert "Unable to locate credentials" in text  # no service-account role: no AWS credentials at all
    pod = api.read_namespaced_pod("lister", NS)
    assert _state(pod, "base").terminated.exit_code != 0 and _state(pod, "base").terminated.reason == "Error"
    assert pod.status.phase == "Running"  # the sidecar still runs

    resp = stream(api.connect_get_namespaced_pod_exec, "lister", NS, container="airflow-xcom-sidecar",
                  command=["/bin/sh", "-c", "cat /airflow/xcom/return.json"], stdin=False, stdout=True, stderr=True,
                  tty=False, _preload_content=False)
    resp.run_forever(timeout=10)  # as the operator reads its XCom
    assert resp.returncode == 0  # from the status channel; read_all() would drop it
    assert json.loads(resp.read_all()) == {"n": 1}
    reasons = [e.reason for e in api.list_namespaced_event(NS, field_selector="involvedObject.name=lister").items]
    assert reasons[:2] == ["Scheduled", "Pulled"] and reasons.count("Started") == 2
    assert [p.metadata.name for p in api.list_namespaced_pod(NS, label_selector="app=t,try!=2,!checked").items] == ["lister"]
    assert api.list_namespaced_pod(NS, label_selector="app=t,checked!=True,try in (2,3)").items == []
    api.patch_namespaced_pod("lister", NS, {"metadata": {"labels": {"checked": "True"}}})
    assert api.list_namespaced_pod(NS, label_selector="app=t,!checked").items == []

    record = next((p for p in localcloud_records() if p["owner"] == f"eks:{NS}/lister"), None)
    assert record and record["processes"]
    pids = list(record["processes"].values())
    assert any(is_same_process(*p) for p in pids)  # the sidecar
    api.delete_namespaced_pod("lister", NS)
    with pytest.raises(ApiException) as gone:
        api.read_namespaced_pod("lister", NS)
    assert gone.value.status == 404
    deadline = time.monotonic() + 10
    while any(is_same_process(*p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(is_same_process(*p) for p in pids)
    from helpers.paths import state_dir

    pods = state_dir() / "localcloud" / "eks" / "pods"
    while list(pods.glob(f"{NS}_lister_*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list(pods.glob(f"{NS}_lister_*"))  # its emptyDir and logs went with the pod


def test_token_checks_before_asking_sts():
    """Expired, unsigned cluster header, not GetCallerIdentity, not a token: refused without a call to STS."""
    import datetime
    import urllib.parse

    from helpers.localcloud.emulators.eks.authn import PREFIX, Unauthorized, check_token

    def token(**params) -> str:
        query = {"Action": "GetCallerIdentity", "Version": "2011-06-15", "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                 "X-Amz-Credential": "testing/20261202/us-east-1/sts/aws4_request", "X-Amz-Date": "20261202T220000Z",
                 "X-Amz-Expires": "60", "X-Amz-SignedHeaders": "host;x-k8s-aws-id", "X-Amz-Signature": "0" * 64, **params}
        url = "http://127.0.0.1:1/?" + urllib.parse.urlencode(query)
        return PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")

    at = datetime.datetime(2026, 12, 2, 22, 5, tzinfo=datetime.UTC)
    for bad, why in ((token(), "signature"), (token(**{"X-Amz-SignedHeaders": "host"}), "x-k8s-aws-id"),
                     (token(Action="GetSessionToken"), "GetCallerIdentity"), ("Bearer-ish", "k8s-aws-v1"),
                     (token(**{"X-Amz-Expires": "3600"}), "expired")):
        with pytest.raises(Unauthorized, match=why):
            check_token(bad, "data-cluster", "http://127.0.0.1:1", now=at)
    with pytest.raises(Unauthorized, match="expired"):
        check_token(token(), "data-cluster", "http://127.0.0.1:1", now=at + datetime.timedelta(minutes=16))


def localcloud_records() -> list[dict]:
    from helpers.localcloud import processes
    from helpers.paths import state_dir

    return list(processes.records(state_dir() / "localcloud").values())


@pytest.mark.parametrize("kill", ["kill -2 $(pgrep -u $(id -u) -f 'sh')", "kill -s SIGINT 1"])
def test_xcom_sidecar_kill_signals_only_the_container(admin, kill):
    """The operator's `kill -2 $(pgrep -u $(id -u) -f 'sh')` (and older providers' `kill -s SIGINT 1`) reach the
    sidecar, not the machine's other shells."""
    api, _, _ = admin
    api.create_namespaced_pod(NS, {"metadata": {"name": "sidecar-only"}, "spec": {
        "restartPolicy": "Never", "containers": [SIDECAR], "volumes": [{"name": "xcom", "emptyDir": {}}]}})
    assert _wait_phase(api, "sidecar-only", ("Running",)).status.phase == "Running"
    import subprocess

    bystander = subprocess.Popen(["sh", "-c", "sleep 30"])
    try:
        resp = stream(api.connect_get_namespaced_pod_exec, "sidecar-only", NS, container="airflow-xcom-sidecar",
                      command=["/bin/sh"], stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
        resp.write_stdin(f"{kill}\n")
        deadline = time.monotonic() + 10
        while resp.is_open() and time.monotonic() < deadline:
            resp.update(timeout=1)
        resp.close()
        pod = _wait_phase(api, "sidecar-only", ("Succeeded", "Failed"), timeout=10)
        assert pod.status.phase == "Succeeded"
        assert _state(pod, "airflow-xcom-sidecar").terminated.reason == "Completed"
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
        api.delete_namespaced_pod("sidecar-only", NS)


def test_unknown_image_cannot_be_pulled_and_the_table_resolves_known_ones(admin):
    assert images.resolve("amazon/aws-cli:latest").entrypoint == ("aws",)
    assert images.resolve("docker.io/library/alpine:3.24.1").cmd == ("/bin/sh",)
    assert images.resolve("python:3.11-slim").bin_dir
    assert images.resolve("nginx:1.27") is None
    api, _, _ = admin
    api.create_namespaced_pod(NS, {"metadata": {"name": "nginx"}, "spec": {"containers": [
        {"name": "web", "image": "nginx:1.27"}]}})
    deadline = time.monotonic() + 10
    reasons = set()
    while time.monotonic() < deadline and "ImagePullBackOff" not in reasons:
        pod = api.read_namespaced_pod("nginx", NS)
        waiting = _state(pod, "web").waiting if pod.status.container_statuses else None
        if waiting:
            reasons.add(waiting.reason)
            message = waiting.message
        time.sleep(0.1)
    assert reasons == {"ErrImagePull", "ImagePullBackOff"} and pod.status.phase == "Pending"
    assert "images.py" in message and "amazon/aws-cli" in message
    api.delete_namespaced_pod("nginx", NS)


def _assumed(role_name: str) -> dict[str, str]:
    iam, sts = cloud.client("iam"), cloud.client("sts")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}
    try:
        arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="airflow")["Credentials"]
    return {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"], "ROLE_ARN": arn}


def test_unmapped_401_mapped_without_binding_403_then_allowed(admin):
    api, described, ca = admin
    creds = _assumed("mwaa-execution-role")
    role_arn = creds.pop("ROLE_ARN")
    executor = _api(described, _token("data-cluster", creds), ca)
    with pytest.raises(ApiException) as unmapped:
        executor.list_namespaced_pod(NS)
    assert unmapped.value.status == 401

    api.create_namespaced_config_map("kube-system", {"metadata": {"name": "aws-auth"}, "data": {"mapRoles": (
        f"- rolearn: {role_arn}\n  username: mwaa-executor\n  groups: []\n")}})
    pod = {"metadata": {"name": "by-executor"}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "base", "image": "busybox", "command": ["true"]}]}}
    with pytest.raises(ApiException) as denied:
        executor.create_namespaced_pod(NS, pod)
    assert denied.value.status == 403
    body = json.loads(denied.value.body)
    assert body["kind"] == "Status" and body["reason"] == "Forbidden"
    assert body["message"] == ('pods is forbidden: User "mwaa-executor" cannot create resource "pods" in API group "" '
                               'in the namespace "mwaa"')

    rbac = k8s.RbacAuthorizationV1Api(api.api_client)
    rbac.create_namespaced_role(NS, {"metadata": {"name": "mwaa-role"}, "rules": [{
        "apiGroups": [""], "resources": ["pods", "pods/log", "pods/exec"],
        "verbs": ["create", "get", "list", "patch", "delete"]}]})
    rbac.create_namespaced_role_binding(NS, {"metadata": {"name": "mwaa-role-binding"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "mwaa-role"},
        "subjects": [{"kind": "User", "name": "mwaa-executor", "apiGroup": "rbac.authorization.k8s.io"}]})
    executor.create_namespaced_pod(NS, pod)
    assert _wait_phase(executor, "by-executor", ("Succeeded", "Failed")).status.phase == "Succeeded"
    with pytest.raises(ApiException) as other_namespace:
        executor.list_namespaced_pod("default")
    assert other_namespace.value.status == 403
    rbac.create_cluster_role({"metadata": {"name": "namespace-reader"}, "rules": [{
        "apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}]})
    rbac.create_cluster_role_binding({"metadata": {"name": "executor-reads-namespaces"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "namespace-reader"},
        "subjects": [{"kind": "Group", "name": "readers", "apiGroup": "rbac.authorization.k8s.io"}]})
    with pytest.raises(ApiException):
        executor.list_namespace()  # the binding names a group the executor is not in
    api.patch_namespaced_config_map("aws-auth", "kube-system", {"data": {"mapRoles": (
        f"- rolearn: {role_arn}\n  username: mwaa-executor\n  groups: [readers]\n")}})
    assert NS in [n.metadata.name for n in executor.list_namespace().items]
    executor.delete_namespaced_pod("by-executor", NS)


def test_subject_access_review_and_token_request(admin):
    """`kubectl auth can-i --as` and `kubectl create token`: RBAC's answer for another user, and a service-account
    token the cluster's issuer signed for the audience asked."""
    import jwt

    api, described, ca = admin
    rbac = k8s.RbacAuthorizationV1Api(api.api_client)
    rbac.create_namespaced_role(NS, {"metadata": {"name": "sar-role"}, "rules": [{
        "apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]})
    rbac.create_namespaced_role_binding(NS, {"metadata": {"name": "sar-binding"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "sar-role"},
        "subjects": [{"kind": "User", "name": "log-reader", "apiGroup": "rbac.authorization.k8s.io"}]})
    authz = k8s.AuthorizationV1Api(api.api_client)

    def can(verb, resource, subresource=None, namespace=NS):
        review = k8s.V1SubjectAccessReview(spec=k8s.V1SubjectAccessReviewSpec(user="log-reader", resource_attributes=
            k8s.V1ResourceAttributes(verb=verb, resource=resource, subresource=subresource, namespace=namespace)))
        return authz.create_subject_access_review(review).status.allowed

    assert can("get", "pods", "log") and not can("create", "pods") and not can("get", "pods", "log", "default")

    api.create_namespaced_service_account(NS, {"metadata": {"name": "token-sa"}})
    request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=["sts.amazonaws.com"],
                                                                            expiration_seconds=600))
    token = api.create_namespaced_service_account_token("token-sa", NS, request).status.token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == f"system:serviceaccount:{NS}:token-sa" and claims["aud"] == ["sts.amazonaws.com"]
    assert claims["iss"] == described["identity"]["oidc"]["issuer"] and 590 <= claims["exp"] - claims["iat"] <= 600
    with pytest.raises(ApiException) as missing:
        api.create_namespaced_service_account_token("no-such-sa", NS, request)
    assert missing.value.status == 404


def test_replace_as_kubectl_apply_leaves_it(admin):
    api, _, _ = admin
    api.create_namespace({"metadata": {"name": "applied"}})
    replaced = api.replace_namespace("applied", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "applied", "labels": {"team": "data"}}})
    assert replaced.metadata.labels == {"team": "data"} and replaced.status.phase == "Active"
    api.create_namespaced_config_map("applied", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    api.replace_namespaced_config_map("c", "applied", {"metadata": {"name": "c"}, "data": {"a": "2"}})
    assert api.read_namespaced_config_map("c", "applied").data == {"a": "2"}
    with pytest.raises(ApiException) as exists:
        api.create_namespaced_config_map("applied", {"metadata": {"name": "c"}})
    assert exists.value.status == 409
    api.delete_namespace("applied")
    with pytest.raises(ApiException) as gone:
        api.read_namespaced_config_map("c", "applied")
    assert gone.value.status == 404


def test_token_for_another_cluster_or_garbled_is_401(eks, admin, tmp_path_factory):
    _, described, ca = admin
    _cluster(eks, "other-cluster")
    for token in (_token("other-cluster"), "k8s-aws-v1.bm90LWEtdXJs", "not-a-token"):
        with pytest.raises(ApiException) as refused:
            _api(described, token, ca).list_namespace()
        assert refused.value.status == 401


def _https_json(url: str, ca: str) -> dict:
    with urllib.request.urlopen(url, context=ssl.create_default_context(cafile=ca), timeout=10) as resp:
        return json.load(resp)


def test_irsa_pod_gets_a_token_the_issuer_validates(admin):
    api, described, ca = admin
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/source-bucket-reader"
    api.create_namespaced_service_account(NS, {"metadata": {"name": "source-bucket-reader-sa", "annotations": {
        "eks.amazonaws.com/role-arn": role_arn}}})
    api.create_namespaced_pod(NS, {"metadata": {"name": "irsa"}, "spec": {
        "restartPolicy": "Never", "serviceAccountName": "source-bucket-reader-sa", "containers": [
            {"name": "base", "image": "python:3.11", "command": ["sh", "-c", "env | sort; cat $AWS_WEB_IDENTITY_TOKEN_FILE"]}]}})
    assert _wait_phase(api, "irsa", ("Succeeded", "Failed")).status.phase == "Succeeded"
    # _preload_content=False as the operator reads logs (this client version turns a preloaded str into "b'...'")
    output = api.read_namespaced_pod_log("irsa", NS, container="base", _preload_content=False).data.decode()
    env = dict(line.split("=", 1) for line in output.splitlines() if "=" in line and not line.startswith("ey"))
    assert env["AWS_ROLE_ARN"] == role_arn and env["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"
    assert env["AWS_WEB_IDENTITY_TOKEN_FILE"].endswith("/volumes/aws-iam-token/token")
    assert "AWS_ACCESS_KEY_ID" not in env and "AIRFLOW_HOME" not in env and env["AWS_EC2_METADATA_DISABLED"] == "true"
    token = next(line for line in output.splitlines() if line.startswith("ey"))

    issuer = described["identity"]["oidc"]["issuer"]
    discovery = _https_json(f"{issuer}/.well-known/openid-configuration", ca)
    assert discovery["issuer"] == issuer and discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    jwks = _https_json(discovery["jwks_uri"], ca)
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid))
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="sts.amazonaws.com", issuer=issuer)
    assert claims["sub"] == f"system:serviceaccount:{NS}:source-bucket-reader-sa"
    assert claims["kubernetes.io"]["namespace"] == NS and claims["kubernetes.io"]["pod"]["name"] == "irsa"
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key.key, algorithms=["RS256"], audience="other", issuer=issuer)
    api.delete_namespaced_pod("irsa", NS)


def _context(task, run_id: str) -> dict:
    """What the task runner would pass (execute is called outside one here)."""
    from unittest import mock

    ti = mock.MagicMock(dag_id="eks_dag", task_id=task.task_id, run_id=run_id, try_number=1, map_index=-1)
    return {"ti": ti, "task_instance": ti, "run_id": run_id, "dag": mock.MagicMock(dag_id="eks_dag", parent_dag=None),
            "task": task, "logical_date": None}


def _execute(operator, context):
    """Run the operator as a worker does: in a thread with no event loop. The sync operator calls asyncio.run, which
    fails where a loop is already running (the browser tests' Playwright keeps one in pytest's main thread)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(operator.execute, context).result()


def test_eks_pod_operator_runs_on_the_local_cluster(admin, module_cloud, caplog, capfd):
    """The real EksPodOperator (sync, get_logs, do_xcom_push, delete_pod) against the local cluster, as MWAA's worker
    would run it: its kubeconfig runs eks_get_token, the pod's logs land in the task log, the XCom comes back."""
    import logging
    import sys

    from airflow.providers.amazon.aws.operators.eks import EksPodOperator

    api, _, _ = admin
    # The kubeconfig runs `python3.11 -m ...eks_get_token`: the workbook's Python must come first on PATH.
    module_cloud.patch.setenv("PATH", f"{sys.prefix}/bin:{os.environ['PATH']}")
    read_bucket = EksPodOperator(
        task_id="read_bucket", cluster_name="data-cluster", namespace=NS, pod_name="read-bucket",
        image="amazon/aws-cli", cmds=["sh", "-c"],
        arguments=["aws --version && echo listing done && echo '{\"keys\": [\"dummy.txt\"]}' > /airflow/xcom/return.json"],
        get_logs=True, do_xcom_push=True, aws_conn_id=None, region="us-east-1", startup_timeout_seconds=60)
    context = _context(read_bucket, "manual__1")
    caplog.set_level(logging.INFO)
    started_at = time.monotonic()
    result = _execute(read_bucket, context)
    elapsed = time.monotonic() - started_at
    print(f"EksPodOperator.execute: {elapsed:.1f} s")
    assert result == {"keys": ["dummy.txt"]}
    task_log = caplog.text + "".join(capfd.readouterr())  # Airflow 3's structlog writes to the process's output
    assert "[base] listing done" in task_log and "aws-cli/1." in task_log
    assert api.list_namespaced_pod(NS, label_selector="task_id=read_bucket").items == []  # deleted after


def test_eks_pod_operator_fails_when_the_pod_has_no_credentials(admin, module_cloud, capfd):
    """Without a service account the pod has no AWS credentials: the container fails, so does the task (the
    notebook's first question), and the pod is still deleted."""
    import sys

    from airflow.providers.amazon.aws.operators.eks import EksPodOperator
    from airflow.sdk.exceptions import AirflowException

    api, _, _ = admin
    module_cloud.patch.setenv("PATH", f"{sys.prefix}/bin:{os.environ['PATH']}")
    no_sa = EksPodOperator(
        task_id="no_sa", cluster_name="data-cluster", namespace=NS, pod_name="no-sa", image="amazon/aws-cli",
        cmds=["aws"], arguments=["sts", "get-caller-identity"], get_logs=True, do_xcom_push=True, aws_conn_id=None,
        region="us-east-1", startup_timeout_seconds=60, startup_check_interval_seconds=1)
    with pytest.raises(AirflowException, match="Pod no-sa-.* returned a failure"):
        _execute(no_sa, _context(no_sa, "manual__2"))
    assert "Unable to locate credentials" in "".join(capfd.readouterr())
    assert api.list_namespaced_pod(NS, label_selector="task_id=no_sa").items == []


def test_pods_stop_with_the_local_cloud_even_after_a_killed_gateway(fresh_state, tmp_path_factory, monkeypatch):
    """`down` stops every pod process, also when the gateway was killed first: pods run in sessions of their own, so
    they outlive it, and their process records name them."""
    import signal

    def running_pod(name: str) -> tuple[int, float]:
        localcloud.up(quiet=True)
        for variable, value in localcloud.exports().items():
            monkeypatch.setenv(variable, value)
        described = _cluster(cloud.client("eks"), f"stop-{name}")
        api = _api(described, _token(f"stop-{name}"), _ca_file(described, tmp_path_factory))
        api.create_namespaced_pod("default", {"metadata": {"name": name}, "spec": {"containers": [
            {"name": "main", "image": "busybox", "command": ["sleep", "120"]}]}})
        assert _wait_phase_in(api, "default", name) == "Running"
        record = next(r for r in localcloud_records() if r["owner"] == f"eks:default/{name}")
        return record["processes"]["main"]

    pid = running_pod("graceful")
    localcloud.down()
    assert not is_same_process(*pid)

    pid = running_pod("orphan")
    gateway = localcloud._read()["aws"]
    os.kill(gateway.pid, signal.SIGKILL)
    time.sleep(0.5)
    assert is_same_process(*pid)  # outlived the gateway
    localcloud.down()
    assert not is_same_process(*pid)


def _wait_phase_in(api, namespace: str, name: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while (phase := api.read_namespaced_pod(name, namespace).status.phase) == "Pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    return phase


def test_local_mwaa_tasks_find_the_python_eks_get_token_needs(tmp_path):
    """EksPodOperator's kubeconfig runs `python3.X -m ...eks_get_token`: on a local MWAA worker that must be the
    environment's Python (with Airflow), not the machine's."""
    import shutil
    import sys
    from pathlib import Path

    from helpers.localcloud.emulators.mwaa.runtime import AirflowRuntime

    runtime = AirflowRuntime(tmp_path / "env" / "home", tmp_path / "dags", tmp_path / "cache", {}, tmp_path)
    path = runtime.environment({}, None, "INFO")["PATH"]
    python = shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}", path=path)
    assert python and Path(python).parent == Path(sys.executable).parent
