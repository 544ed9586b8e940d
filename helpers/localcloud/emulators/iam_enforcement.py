"""IAM enforcement for web-identity sessions: what IRSA's least privilege looks like on the local cloud. (emulated)

A WSGI layer in front of the gateway. It answers `AssumeRoleWithWebIdentity` (an unsigned STS request: its Action is
in the query or the form body, so it cannot be routed by a SigV4 scope) with `web_identity`, and for requests signed
with credentials that `web_identity` issued, and only those, evaluates the role's identity policies (inline, attached,
permissions boundary, and the session policy if one was passed) with `iam_policy` before the request goes on. Every
other caller keeps the local cloud's unenforced behaviour, which the other chapters rely on.

What is evaluated per request:
- S3 (path-style URLs, as clients use with a loopback endpoint): the IAM action of the REST call, at resource level:
  `ListBucket` (ListObjects/V2, HeadBucket) on `arn:aws:s3:::<bucket>` with `s3:prefix`/`s3:delimiter`/`s3:max-keys`,
  `GetObject` (also HeadObject and a copy's source), `PutObject` (also multipart uploads), `DeleteObject` (each key of
  DeleteObjects) on `arn:aws:s3:::<bucket>/<key>`, and the bucket and object subresources' own actions.
- SSM parameters (GetParameter, GetParameters, GetParametersByPath, PutParameter, DeleteParameter, DeleteParameters,
  GetParameterHistory) on `arn:aws:ssm:<region>:<account>:parameter/<name>`.
- Any other service: its action (from X-Amz-Target, the query Action, or the REST path through botocore's service
  model) with the resource not derived: every Resource pattern matches (action level). `sts:GetCallerIdentity` is
  always allowed, as on AWS.
Denials are answered as each protocol's service answers them ("User: <assumed-role ARN> is not authorized to perform:
<action> on resource: <ARN> because no identity-based policy allows the <action> action", or "with an explicit deny in
an identity-based policy"); expired credentials get ExpiredToken. Global condition keys set: aws:PrincipalArn,
aws:PrincipalAccount, aws:userid, aws:RequestedRegion, aws:SecureTransport, aws:CurrentTime, aws:EpochTime.
Not checked: the request's signature (moto does not either), resource policies (bucket policies), SCPs.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from helpers.localcloud.emulators import iam_policy
from helpers.localcloud.emulators.web_identity import WebIdentity, xml_error

_SCOPE = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}  # signing names that differ from IAM's service prefix
# API operations whose IAM action has another name
_IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction", "lambda:InvokeWithResponseStream": "lambda:InvokeFunction"}
_MODEL_NAME = {"airflow": "mwaa", "monitoring": "cloudwatch", "email": "ses"}  # signing name -> botocore model
_BUCKET_GET = {"": "ListBucket", "list-type": "ListBucket", "versions": "ListBucketVersions",
               "uploads": "ListBucketMultipartUploads", "location": "GetBucketLocation", "policy": "GetBucketPolicy",
               "tagging": "GetBucketTagging", "acl": "GetBucketAcl", "versioning": "GetBucketVersioning",
               "notification": "GetBucketNotification", "cors": "GetBucketCORS",
               "lifecycle": "GetLifecycleConfiguration", "encryption": "GetEncryptionConfiguration",
               "website": "GetBucketWebsite", "logging": "GetBucketLogging", "publicAccessBlock":
               "GetBucketPublicAccessBlock", "ownershipControls": "GetBucketOwnershipControls",
               "object-lock": "GetBucketObjectLockConfiguration", "policyStatus": "GetBucketPolicyStatus"}
_BUCKET_PUT = {"": "CreateBucket", "policy": "PutBucketPolicy", "tagging": "PutBucketTagging",
               "versioning": "PutBucketVersioning", "notification": "PutBucketNotification", "acl": "PutBucketAcl",
               "cors": "PutBucketCORS", "lifecycle": "PutLifecycleConfiguration",
               "encryption": "PutEncryptionConfiguration", "website": "PutBucketWebsite", "logging": "PutBucketLogging",
               "publicAccessBlock": "PutBucketPublicAccessBlock", "ownershipControls": "PutBucketOwnershipControls",
               "object-lock": "PutBucketObjectLockConfiguration"}
# IAM has no Delete* action for most bucket subresources: deleting one is a Put of it.
_BUCKET_DELETE = {"": "DeleteBucket", "policy": "DeleteBucketPolicy", "tagging": "PutBucketTagging",
                  "cors": "PutBucketCORS", "lifecycle": "PutLifecycleConfiguration",
                  "encryption": "PutEncryptionConfiguration", "website": "DeleteBucketWebsite",
                  "publicAccessBlock": "PutBucketPublicAccessBlock", "ownershipControls": "PutBucketOwnershipControls"}
_OBJECT_GET = {"": "GetObject", "tagging": "GetObjectTagging", "acl": "GetObjectAcl", "attributes":
               "GetObjectAttributes", "uploadId": "ListMultipartUploadParts", "retention": "GetObjectRetention",
               "legal-hold": "GetObjectLegalHold"}
_OBJECT_PUT = {"": "PutObject", "uploadId": "PutObject", "tagging": "PutObjectTagging", "acl": "PutObjectAcl",
               "retention": "PutObjectRetention", "legal-hold": "PutObjectLegalHold"}
_OBJECT_DELETE = {"": "DeleteObject", "uploadId": "AbortMultipartUpload", "tagging": "DeleteObjectTagging"}
_OBJECT_POST = {"uploads": "PutObject", "uploadId": "PutObject", "restore": "RestoreObject", "select": "GetObject"}
_SSM_SINGLE = {"GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory", "LabelParameterVersion"}
_SSM_MANY = {"GetParameters", "DeleteParameters"}


def iam_action(signing_name: str, operation: str) -> str:
    """The IAM action of an API operation of the service with this SigV4 signing name."""
    action = f"{_IAM_PREFIX.get(signing_name, signing_name)}:{operation}"
    return _IAM_ACTION.get(action, action)


class Check:
    """One permission a request needs: an IAM action on a resource ARN (None: not derived) in a context."""

    def __init__(self, action: str, resource: str | None, context: dict[str, list[str]] | None = None):
        self.action, self.resource, self.context = action, resource, context or {}

    def __repr__(self) -> str:
        return f"Check({self.action!r}, {self.resource!r})"


def _subresource(query: dict[str, list[str]], table: dict[str, str]) -> str:
    return next((k for k in query if k in table and k), "")


def s3_checks(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body=lambda: b"",
              host_bucket: str | None = None) -> list[Check]:
    """The permissions an S3 REST request needs (path-style `/<bucket>/<key>`, or `host_bucket` for virtual-hosted)."""
    path = path.lstrip("/")
    bucket, _, key = (f"{host_bucket}/{path}" if host_bucket else path).partition("/")
    if not bucket:
        return [Check("s3:ListAllMyBuckets", None)]
    bucket_arn, object_arn = f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/{key}"
    if not key:
        if method in ("GET", "HEAD"):
            action = _BUCKET_GET[_subresource(query, _BUCKET_GET) if method == "GET" else ""]
            context = {}
            if action == "ListBucket":
                context = {f"s3:{k}": query[k] for k in ("prefix", "delimiter", "max-keys") if k in query}
            return [Check(f"s3:{action}", bucket_arn, iam_policy.lower_keys(context))]
        if method == "POST" and "delete" in query:
            keys = [unquote(k) for k in re.findall(r"<Key>(.*?)</Key>", body().decode("utf-8", "replace"), re.S)]
            return [Check("s3:DeleteObject", f"{bucket_arn}/{_xml_text(k)}") for k in keys]
        table = _BUCKET_PUT if method == "PUT" else _BUCKET_DELETE
        return [Check(f"s3:{table[_subresource(query, table)]}", bucket_arn)]
    if method in ("GET", "HEAD"):
        sub = _subresource(query, _OBJECT_GET)
        action = _OBJECT_GET[sub]
        if action == "GetObject" and "versionId" in query:
            action = "GetObjectVersion"
        return [Check(f"s3:{action}", object_arn)]
    if method == "PUT":
        checks = [Check(f"s3:{_OBJECT_PUT[_subresource(query, _OBJECT_PUT)]}", object_arn)]
        if source := headers.get("x-amz-copy-source"):
            source = unquote(source.split("?", 1)[0]).lstrip("/")
            checks.append(Check("s3:GetObject", f"arn:aws:s3:::{source}"))
        return checks
    if method == "DELETE":
        action = _OBJECT_DELETE[_subresource(query, _OBJECT_DELETE)]
        if action == "DeleteObject" and "versionId" in query:
            action = "DeleteObjectVersion"
        return [Check(f"s3:{action}", object_arn)]
    return [Check(f"s3:{_OBJECT_POST.get(_subresource(query, _OBJECT_POST), 'PutObject')}", object_arn)]


def _xml_text(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'") \
        .replace("&amp;", "&")


def ssm_parameter_arn(name: str, region: str, account: str) -> str:
    if name.startswith("arn:"):
        return name
    name = name.split(":", 1)[0]  # a version or label selector is not part of the ARN
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def ssm_checks(operation: str, body: dict, region: str, account: str) -> list[Check]:
    action = f"ssm:{operation}"
    if operation in _SSM_SINGLE and "Name" in body:
        return [Check(action, ssm_parameter_arn(body["Name"], region, account))]
    if operation in _SSM_MANY and "Names" in body:
        return [Check(action, ssm_parameter_arn(n, region, account)) for n in body["Names"]]
    if operation == "GetParametersByPath" and "Path" in body:
        return [Check(action, ssm_parameter_arn(body["Path"].rstrip("/") or "/", region, account))]
    return [Check(action, None)]


class _RestOperations:
    """REST services' operation names from method and path, through botocore's service models (loaded once each)."""

    def __init__(self):
        self._tables: dict[str, list[tuple[str, re.Pattern, set[str], str]]] = {}
        self._lock = threading.Lock()

    def _table(self, signing_name: str):
        with self._lock:
            if signing_name not in self._tables:
                self._tables[signing_name] = self._load(signing_name)
            return self._tables[signing_name]

    @staticmethod
    def _load(signing_name: str):
        import botocore.session

        try:
            model = botocore.session.get_session().get_service_model(_MODEL_NAME.get(signing_name, signing_name))
        except Exception:
            return []
        table = []
        for name in model.operation_names:
            http = model.operation_model(name).http
            uri, _, required = http.get("requestUri", "/").partition("?")
            regex = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(uri)))
            table.append((http.get("method", "POST"), re.compile(regex.rstrip("/") + "/?"),
                          {q.split("=", 1)[0] for q in required.split("&") if q}, name))
        # the most literal templates first: /functions/{F}/policy before /functions/{F}
        table.sort(key=lambda row: (-len(row[2]), -len(re.sub(r"\[\^/\]\+|\.\+", "", row[1].pattern))))
        return table

    def operation(self, signing_name: str, method: str, path: str, query: dict) -> str | None:
        for verb, regex, required, name in self._table(signing_name):
            if verb == method and regex.fullmatch(path) and required <= set(query):
                return name
        return None


_REST = _RestOperations()


def _action_name(body: bytes, query: dict[str, list[str]]) -> str | None:
    params = dict(query)
    try:
        params.update(parse_qs(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        pass
    return (params.get("Action") or [None])[0]


def _buffer(environ) -> bytes:
    """Read the request body and put it back for whoever reads it next."""
    stream = environ.get("wsgi.input")
    length = environ.get("CONTENT_LENGTH")
    if stream is None or not (length or environ.get("wsgi.input_terminated")):
        return b""  # no body, or one whose end only the next reader can find: left alone
    body = stream.read(int(length)) if length else stream.read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


class IamEnforcement:
    """The WSGI layer: `AssumeRoleWithWebIdentity` to `web_identity`, web-identity sessions' requests through IAM
    evaluation, everything else straight to `app`."""

    def __init__(self, app, web_identity: WebIdentity):
        self.app = app
        self.web_identity = web_identity

    def _web_identity_params(self, environ) -> dict[str, str] | None:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        params = {k: v[0] for k, v in query.items()}
        if params.get("Action") != "AssumeRoleWithWebIdentity" and environ.get("REQUEST_METHOD") == "POST" and \
                environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            params.update({k: v[0] for k, v in parse_qs(_buffer(environ).decode("utf-8", "replace"),
                                                        keep_blank_values=True).items()})
        return params if params.get("Action") == "AssumeRoleWithWebIdentity" else None

    def __call__(self, environ, start_response):
        auth = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "") or "")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if auth:
            access_key, region, service = auth.groups()
        elif credential := (query.get("X-Amz-Credential") or [None])[0]:  # a presigned URL: key/date/region/service/...
            access_key, _, region, service = (credential.split("/") + ["", "", ""])[:4]
        else:
            access_key = region = service = None
        if service in (None, "sts") and (params := self._web_identity_params(environ)) is not None:
            return self.web_identity(params, start_response)
        session = self.web_identity.session(access_key) if access_key else None
        if session is None:
            return self.app(environ, start_response)
        protocol = _protocol(environ, service)
        if self.web_identity.clock() >= session.expiration:
            return _expired(start_response, protocol)
        checks = self._checks(environ, service, region, query)
        context = _global_context(session, region, self.web_identity.clock())
        policies = None
        for check in checks:
            if check.action.lower() == "sts:getcalleridentity":
                continue
            if policies is None:
                policies, boundary = self._policies(session.role_arn)
            merged = {**context, **check.context}
            decision, _, _ = iam_policy.decide(policies, boundary, check.action, check.resource, merged, fail_closed=True)
            reason = None
            if decision == "explicitDeny":
                reason = "with an explicit deny in an identity-based policy"
            elif decision != "allowed":
                reason = f"because no identity-based policy allows the {check.action} action"
            elif session.session_policy is not None:
                limit, _, _ = iam_policy.evaluate([("session", "session", session.session_policy)], check.action,
                                                  check.resource, merged, fail_closed=True)
                if limit == "explicitDeny":
                    reason = "with an explicit deny in a session policy"
                elif limit != "allowed":
                    reason = f"because no session policy allows the {check.action} action"
            if reason:
                return _denied(start_response, protocol, service, session.arn, check, reason)
        return self.app(environ, start_response)

    def _policies(self, role_arn: str):
        from moto.iam.exceptions import NotFoundException

        try:
            return iam_policy.principal_policies(self.web_identity._iam(), role_arn)
        except NotFoundException:  # the role was deleted: its sessions can do nothing
            return [], None

    def _checks(self, environ, service: str, region: str, query: dict[str, list[str]]) -> list[Check]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        if service == "s3":
            headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
            host = environ.get("HTTP_HOST", "").split(":", 1)[0]
            host_bucket = host.split(".", 1)[0] if (".s3." in host or host.endswith(".localhost")) else None
            return s3_checks(method, path, query, headers, lambda: _buffer(environ), host_bucket)
        if target := environ.get("HTTP_X_AMZ_TARGET"):
            operation = target.rsplit(".", 1)[-1]
            if service == "ssm":
                try:
                    body = json.loads(_buffer(environ) or b"{}")
                except ValueError:
                    body = {}
                return ssm_checks(operation, body, region, self.web_identity.account_id)
            return [Check(iam_action(service, operation), None)]
        body = _buffer(environ) if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded") \
            else b""
        if action := _action_name(body, query):
            return [Check(iam_action(service, action), None)]
        operation = _REST.operation(service, method, path, query)
        # a call this layer cannot name is refused, not waved through: never more permissive than IAM
        return [Check(iam_action(service, operation or "UnknownOperation"), None)]


def _global_context(session, region: str, now: float) -> dict[str, list[str]]:
    role_id = session.arn.rsplit("/", 1)[-1]
    return iam_policy.lower_keys({
        "aws:PrincipalArn": [session.role_arn], "aws:PrincipalAccount": [session.role_arn.split(":")[4]],
        "aws:userid": [role_id], "aws:RequestedRegion": [region or "us-east-1"], "aws:SecureTransport": ["false"],
        "aws:CurrentTime": [datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")],
        "aws:EpochTime": [str(int(now))]})


def _protocol(environ, service: str) -> str:
    if service == "s3":
        return "s3"
    if service == "ec2":
        return "ec2"
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded") or \
            "Action=" in environ.get("QUERY_STRING", ""):
        return "query"
    return "rest-json"


def _answer(start_response, status: str, content_type: str, body: bytes, extra=()) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                            ("x-amzn-RequestId", str(uuid.uuid4())), *extra])
    return [body]


def _s3_error(start_response, status: str, code: str, message: str) -> list[bytes]:
    request_id = uuid.uuid4().hex[:16].upper()
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}</Message>'
            f"<RequestId>{request_id}</RequestId><HostId>{uuid.uuid4().hex}</HostId></Error>").encode()
    return _answer(start_response, status, "application/xml", body)


def _denied(start_response, protocol: str, service: str, principal: str, check: Check, reason: str) -> list[bytes]:
    resource = check.resource or "*"
    if protocol == "s3":
        message = f'User: {principal} is not authorized to perform: {check.action} on resource: "{resource}" {reason}'
        return _s3_error(start_response, "403 Forbidden", "AccessDenied", message)
    message = f"User: {principal} is not authorized to perform: {check.action} on resource: {resource} {reason}"
    if protocol == "json":
        body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
        return _answer(start_response, "400 Bad Request", "application/x-amz-json-1.1", body)
    if protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to "
                f"perform this operation. {escape(message)}</Message></Error></Errors><RequestID>{uuid.uuid4()}"
                "</RequestID></Response>").encode()
        return _answer(start_response, "403 Forbidden", "text/xml", body)
    if protocol == "query":
        return xml_error(start_response, 403, "AccessDenied", message)
    body = json.dumps({"Message": message}).encode()
    return _answer(start_response, "403 Forbidden", "application/json", body,
                   [("x-amzn-ErrorType", "AccessDeniedException")])


def _expired(start_response, protocol: str) -> list[bytes]:
    if protocol == "s3":
        return _s3_error(start_response, "400 Bad Request", "ExpiredToken", "The provided token has expired.")
    message = "The security token included in the request is expired"
    if protocol == "json":
        body = json.dumps({"__type": "ExpiredTokenException", "message": message}).encode()
        return _answer(start_response, "400 Bad Request", "application/x-amz-json-1.1", body)
    if protocol in ("query", "ec2"):
        return xml_error(start_response, 400, "ExpiredToken", message)
    body = json.dumps({"message": message}).encode()
    return _answer(start_response, "403 Forbidden", "application/json", body,
                   [("x-amzn-ErrorType", "ExpiredTokenException")])


def wrap(app, state_dir: str, fetch=None) -> IamEnforcement:
    """The gateway `app` behind web-identity federation and enforcement (one `WebIdentity` shared by both)."""
    return IamEnforcement(app, WebIdentity(state_dir, fetch=fetch, clock=time.time))
