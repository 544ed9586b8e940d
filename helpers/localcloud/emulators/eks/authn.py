"""Authentication as EKS does it: the bearer token `k8s-aws-v1.<base64url(presigned STS GetCallerIdentity URL)>`
(what `aws eks get-token` and Airflow's `eks_get_token` make) names an IAM principal; the API server asks STS who it is.

Checks, as aws-iam-authenticator makes them: the URL is a GetCallerIdentity call to STS; `x-k8s-aws-id` is a signed
header; the URL was signed at most 15 minutes ago (X-Amz-Expires is 60 s in the tokens clients make, but clients
cache them for 14 minutes and the authenticator accepts them that long); and, as STS's signature check does on AWS,
the signature is valid for this cluster's name in `x-k8s-aws-id` (checked here, since moto does not check signatures,
whenever the local cloud knows the access key's secret). The principal comes from the local cloud's own
GetCallerIdentity; an assumed-role ARN maps to its role ARN, as in the aws-auth ConfigMap.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from xml.etree import ElementTree

PREFIX = "k8s-aws-v1."
MAX_AGE = datetime.timedelta(minutes=15)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
LOCAL_KEYS = {"testing": "testing"}  # the workbook's local credentials (helpers.localcloud.LOCAL_ACCESS_KEY)
_ASSUMED = re.compile(r"^arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([^/]+)/(.+)$")


class Unauthorized(Exception):
    """The request does not authenticate (401)."""


@dataclass
class Principal:
    arn: str  # the IAM ARN the cluster's access mapping is keyed by (role ARN for an assumed role)
    caller_arn: str  # what GetCallerIdentity said
    account: str
    user_id: str
    session_name: str = ""


def _decode(token: str) -> str:
    if not token.startswith(PREFIX):
        raise Unauthorized("token is not a k8s-aws-v1 token")
    body = token[len(PREFIX):]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unauthorized("token is not base64url") from exc


def _secret_for(access_key: str) -> str | None:
    """The secret of a local access key, when the local cloud holds it (moto's IAM users and STS sessions)."""
    if access_key in LOCAL_KEYS:
        return LOCAL_KEYS[access_key]
    try:
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends
    except ImportError:
        return None
    for by_partition in list(iam_backends.values()):
        for backend in list(by_partition.values()):
            user = backend.get_user_from_access_key_id(access_key)
            if user is not None:
                return next((k.secret_access_key for k in user.access_keys if k.access_key_id == access_key), None)
    for by_partition in list(sts_backends.values()):
        for backend in list(by_partition.values()):
            role = backend.get_assumed_role_from_access_key(access_key)
            if role is not None:
                return role.secret_access_key
    return None


def _signature(secret: str, date: str, scope: str, canonical: str) -> str:
    string_to_sign = "\n".join(("AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()))
    key = ("AWS4" + secret).encode()
    for part in scope.split("/")[:4]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _signed_for(url: urllib.parse.SplitResult, params: dict, cluster: str, secret: str) -> bool:
    pairs = sorted(tuple(p.partition("=")[::2]) for p in url.query.split("&") if not p.startswith("X-Amz-Signature="))
    query = "&".join(f"{k}={v}" for k, v in pairs)
    names = params["X-Amz-SignedHeaders"].split(";")
    values = {"host": url.netloc, "x-k8s-aws-id": cluster}
    headers = "".join(f"{name}:{values.get(name, '')}\n" for name in names)
    scope = params["X-Amz-Credential"].split("/", 1)[1]
    for payload in (EMPTY_SHA256, "UNSIGNED-PAYLOAD"):
        canonical = "\n".join(("GET", url.path or "/", query, headers, ";".join(names), payload))
        if hmac.compare_digest(_signature(secret, params["X-Amz-Date"], scope, canonical), params["X-Amz-Signature"]):
            return True
    return False


def check_token(token: str, cluster: str, gateway: str, now: datetime.datetime | None = None) -> Principal:
    """The IAM principal a bearer token proves, for `cluster`; raises Unauthorized."""
    url = urllib.parse.urlsplit(_decode(token))
    params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
    if url.scheme not in ("http", "https") or params.get("Action") != "GetCallerIdentity":
        raise Unauthorized("token is not a presigned STS GetCallerIdentity URL")
    for name in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"):
        if name not in params:
            raise Unauthorized(f"presigned URL lacks {name}")
    if "x-k8s-aws-id" not in params["X-Amz-SignedHeaders"].split(";"):
        raise Unauthorized("client did not sign the x-k8s-aws-id header in the pre-signed URL")
    try:
        signed = datetime.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        expires = int(params["X-Amz-Expires"])
    except ValueError as exc:
        raise Unauthorized("malformed X-Amz-Date or X-Amz-Expires") from exc
    now = now or datetime.datetime.now(datetime.UTC)
    if expires > MAX_AGE.total_seconds() or not signed - datetime.timedelta(minutes=5) <= now <= signed + MAX_AGE:
        raise Unauthorized("X-Amz-Date parameter is expired (15 minute expiration)")
    access_key = params["X-Amz-Credential"].split("/", 1)[0]
    secret = _secret_for(access_key)
    if secret is not None and not _signed_for(url, params, cluster, secret):
        raise Unauthorized("the signature does not match: the token was made for another cluster")
    return _ask_sts(url, cluster, gateway)


def _ask_sts(url: urllib.parse.SplitResult, cluster: str, gateway: str) -> Principal:
    # Whatever host the token names, the local cloud's STS answers (a real STS host is unreachable here). The gateway
    # and moto tell services apart by the Authorization header's credential scope, which a presigned URL carries in
    # its query: the same credential and signature go in the header too.
    params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
    headers = {"x-k8s-aws-id": cluster, "X-Amz-Date": params["X-Amz-Date"],
               "Authorization": f"AWS4-HMAC-SHA256 Credential={params['X-Amz-Credential']}, "
                                f"SignedHeaders={params['X-Amz-SignedHeaders']}, Signature={params['X-Amz-Signature']}"}
    if "X-Amz-Security-Token" in params:
        headers["X-Amz-Security-Token"] = params["X-Amz-Security-Token"]
    request = urllib.request.Request(f"{gateway}{url.path or '/'}?{url.query}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            tree = ElementTree.fromstring(resp.read())
    except (OSError, ElementTree.ParseError) as exc:
        raise Unauthorized(f"STS GetCallerIdentity failed: {exc}") from exc
    found = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in tree.iter()}
    if "Arn" not in found:
        raise Unauthorized("STS GetCallerIdentity did not name a principal")
    caller = found["Arn"]
    arn, session = caller, ""
    if match := _ASSUMED.match(caller):
        partition, account, role, session = match.groups()
        arn = f"arn:{partition}:iam::{account}:role/{role}"
    return Principal(arn=arn, caller_arn=caller, account=found.get("Account", ""), user_id=found.get("UserId", ""),
                     session_name=session)
