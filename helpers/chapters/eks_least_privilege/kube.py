"""The notebook's way into an EKS cluster's Kubernetes API, as `EksPodOperator` gets in: the endpoint and CA from
DescribeCluster, and a bearer token that is a presigned STS GetCallerIdentity URL (what
`airflow.providers.amazon.aws.utils.eks_get_token` prints). The API server resolves the URL to the caller's IAM
principal; aws-auth (or an access entry) and RBAC decide what that principal may do. The same code on both targets:
only `cloud` knows where STS and EKS are.

Also the manifests in `manifests/`: `${name}` placeholders filled in, applied create-or-replace as `kubectl apply`
would leave them.
"""

from __future__ import annotations

import base64
import string
import tempfile
from pathlib import Path

import yaml

from helpers.aws import cloud
from helpers.errors import WorkbookError
from helpers.paths import shown

MANIFESTS = Path(__file__).parent / "manifests"
TOKEN_PREFIX = "k8s-aws-v1."
STS_TOKEN_EXPIRES_IN = 60  # seconds the presigned URL is valid, as eks_get_token signs it


# --- authentication -----------------------------------------------------------------------------------------------

def token(cluster_name: str) -> str:
    """An EKS bearer token for `cluster_name`, signed with the workbook's credentials."""
    from botocore.signers import RequestSigner

    session, sts = cloud.session(), cloud.client("sts")
    signer = RequestSigner(sts.meta.service_model.service_id, session.region_name, "sts", "v4",
                           session.get_credentials(), session.events)
    # The cluster name is a signed header: a token for one cluster is refused by every other.
    url = signer.generate_presigned_url(
        {"method": "GET", "url": f"{sts.meta.endpoint_url}/?Action=GetCallerIdentity&Version=2011-06-15", "body": {},
         "headers": {"x-k8s-aws-id": cluster_name}, "context": {}},
        region_name=session.region_name, expires_in=STS_TOKEN_EXPIRES_IN, operation_name="")
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def presigned_url(bearer: str) -> str:
    """The STS URL inside a token (for showing what a token is)."""
    if not bearer.startswith(TOKEN_PREFIX):
        raise WorkbookError(f"not an EKS token: it does not start with {TOKEN_PREFIX}")
    body = bearer.removeprefix(TOKEN_PREFIX)
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def api_client(cluster_name: str):
    """A `kubernetes.client.ApiClient` for the cluster. Each request gets a fresh token (they expire within minutes)."""
    from kubernetes import client as k8s

    cluster = cloud.client("eks").describe_cluster(name=cluster_name)["cluster"]
    if cluster.get("status") != "ACTIVE":
        raise WorkbookError(f"cluster {cluster_name} is {cluster.get('status')}, not ACTIVE: wait for it first")
    ca = Path(tempfile.mkdtemp(prefix="eks-ca-")) / "ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificateAuthority"]["data"]))
    config = k8s.Configuration()
    config.host = cluster["endpoint"]
    config.ssl_ca_cert = str(ca)
    config.verify_ssl = True
    # The whole header value: kubernetes 36 looks the prefix up under another key ("BearerToken") and would drop it.
    config.api_key["authorization"] = f"Bearer {token(cluster_name)}"

    def refresh(conf) -> None:
        conf.api_key["authorization"] = f"Bearer {token(cluster_name)}"

    config.refresh_api_key_hook = refresh
    return k8s.ApiClient(config)


# --- manifests ----------------------------------------------------------------------------------------------------

def manifest_files() -> list[Path]:
    return sorted(MANIFESTS.glob("*.yaml"))


def placeholders(path: Path | None = None) -> set[str]:
    """The `${name}` placeholders of one manifest file, or of all."""
    found: set[str] = set()
    for file in [path] if path else manifest_files():
        found.update(m.group("braced") for m in string.Template.pattern.finditer(file.read_text()) if m.group("braced"))
    return found


def render(values: dict[str, str]) -> list[dict]:
    """Every manifest as Kubernetes objects, placeholders filled in. A missing value is an error, not an empty string."""
    missing = sorted(placeholders() - set(values))
    if missing:
        raise WorkbookError(f"the manifests need values for {', '.join(missing)}")
    objects = []
    for path in manifest_files():
        text = string.Template(path.read_text()).substitute(values)
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def describe(obj: dict) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta['name']}"


def _calls(api, obj: dict):
    """(create, replace) for one object's kind, on the typed clients."""
    from kubernetes import client as k8s

    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
    kind, name, namespace = obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")
    table = {
        "Namespace": (lambda: core.create_namespace(obj), lambda: core.replace_namespace(name, obj)),
        "ServiceAccount": (lambda: core.create_namespaced_service_account(namespace, obj),
                           lambda: core.replace_namespaced_service_account(name, namespace, obj)),
        "ConfigMap": (lambda: core.create_namespaced_config_map(namespace, obj),
                      lambda: core.replace_namespaced_config_map(name, namespace, obj)),
        "Role": (lambda: rbac.create_namespaced_role(namespace, obj),
                 lambda: rbac.replace_namespaced_role(name, namespace, obj)),
        "RoleBinding": (lambda: rbac.create_namespaced_role_binding(namespace, obj),
                        lambda: rbac.replace_namespaced_role_binding(name, namespace, obj)),
    }
    if kind not in table:
        raise WorkbookError(f"{describe(obj)}: the workbook applies only {', '.join(table)}")
    return table[kind]


def apply(api, objects: list[dict]) -> list[str]:
    """Create each object, or replace it when it exists (409): what `kubectl apply` leaves. Returns 'created ...' or
    'configured ...' per object, in order."""
    from kubernetes.client.exceptions import ApiException

    done = []
    for obj in objects:
        create, replace = _calls(api, obj)
        try:
            create()
            done.append(f"created {describe(obj)}")
        except ApiException as exc:
            if exc.status != 409:
                raise WorkbookError(f"{describe(obj)}: {exc.status} {exc.reason}: {_message(exc)}") from None
            replace()
            done.append(f"configured {describe(obj)}")
    return done


def _message(exc) -> str:
    import json

    try:
        return json.loads(exc.body).get("message", "")
    except (TypeError, ValueError):
        return str(exc.body or "")


def shown_manifests() -> str:
    """The manifest files as the notebook prints them (placeholders still in)."""
    return "\n".join(f"# {shown(path)}\n{path.read_text()}" for path in manifest_files())


def role_arn_for_aws_auth(role_arn: str) -> str:
    """aws-auth matches a role by its ARN without the IAM path (the authenticator sees the assumed-role ARN, which has
    none): `role/mwaa-workbook/x` must be written `role/x`, or the mapping silently never matches."""
    prefix, _, rest = role_arn.partition(":role/")
    return f"{prefix}:role/{rest.rsplit('/', 1)[-1]}"
