"""STS `AssumeRoleWithWebIdentity` for real: IRSA's exchange of an OIDC token for a role's credentials. (emulated)

moto answers this call without looking at the token or the role's trust policy; this checks what STS checks and
answers with STS's error codes, in the order STS reports them:
- the token is a JWT (else InvalidIdentityToken);
- its `iss` is registered as an IAM OIDC provider in the account (else InvalidIdentityToken "No OpenIDConnect provider
  found in your account for <iss>");
- its RS256 signature verifies against a key of the issuer's JWKS, found through `<iss>/.well-known/openid-configuration`
  -> `jwks_uri` over HTTPS, trusting the system CAs and the local EKS's CA (`<state_dir>/eks/ca.pem`) when it exists
  (else InvalidIdentityToken);
- `exp` is in the future (else ExpiredTokenException) and `nbf` not (else InvalidIdentityToken);
- its `aud` is in the provider's client ID list (else InvalidIdentityToken "Incorrect token audience");
- the role exists and its trust policy allows `sts:AssumeRoleWithWebIdentity` to the provider (`Principal.Federated`)
  under its conditions on `<provider url>:sub` / `:aud` (else AccessDenied "Not authorized to perform
  sts:AssumeRoleWithWebIdentity");
- `DurationSeconds` between 900 and the role's MaxSessionDuration (else ValidationError).
On success the session is created in moto's STS backend (so `GetCallerIdentity` with its keys answers the assumed-role
ARN) and remembered here, so `iam_enforcement` can apply the role's policies to requests signed with its keys.
Not checked: the provider's thumbprints (IAM no longer requires them for most CAs), `azp`, session tags, `PolicyArns`.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from helpers.localcloud.emulators import iam_policy

ACCOUNT_ID = "123456789012"
ACTION = "sts:AssumeRoleWithWebIdentity"
_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_INVALID = ("The web identity token that was passed could not be validated by AWS. Get a new identity token from the "
            "identity provider and then retry the request.")
_NO_KEY = ("Couldn't retrieve verification key from your identity provider,  please reference "
           "AssumeRoleWithWebIdentity documentation for requirements")
JWKS_CACHE_SECONDS = 60.0
NBF_LEEWAY_SECONDS = 300  # clock skew tolerated for a token's start, as token validators commonly allow


class StsError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str = _INVALID) -> StsError:
    return StsError(400, "InvalidIdentityToken", message)


def _denied() -> StsError:
    return StsError(403, "AccessDenied", f"Not authorized to perform {ACTION}")


@dataclass(frozen=True)
class Session:
    """Temporary credentials this module issued: what enforcement needs to know about their holder."""
    access_key_id: str
    role_arn: str
    arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<session>
    expiration: float  # epoch seconds
    session_policy: dict | None


def https_json(url: str, ca_file: Path | None = None, timeout: float = 5.0) -> dict:
    """GET a JSON document over HTTPS, trusting the system CAs plus `ca_file` when it exists."""
    if not url.startswith("https://"):
        raise ValueError(f"{url} is not an HTTPS URL")
    context = ssl.create_default_context()
    if ca_file is not None and ca_file.exists():
        context.load_verify_locations(cafile=str(ca_file))
    with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
        return json.load(response)


class WebIdentity:
    """AssumeRoleWithWebIdentity against moto's IAM and STS backends, in the gateway process. `fetch(url) -> dict`
    gets the issuer's discovery document and JWKS (injectable for tests); `clock()` is the time in epoch seconds."""

    def __init__(self, state_dir: str | Path | None = None, fetch=None, clock=time.time, account_id: str = ACCOUNT_ID):
        ca_file = Path(state_dir) / "eks" / "ca.pem" if state_dir else None
        self.fetch = fetch or (lambda url: https_json(url, ca_file))
        self.clock = clock
        self.account_id = account_id
        self.sessions: dict[str, Session] = {}
        self._jwks: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    # moto's backends: the one account of the local cloud, partition aws
    def _iam(self):
        from moto.iam.models import iam_backends

        return iam_backends[self.account_id]["aws"]

    def _sts(self):
        from moto.sts.models import sts_backends

        return sts_backends[self.account_id]["aws"]

    def session(self, access_key_id: str) -> Session | None:
        with self._lock:
            return self.sessions.get(access_key_id)

    def _provider(self, issuer: str):
        url = issuer.removeprefix("https://").rstrip("/")
        iam = self._iam()
        for arn, provider in iam.open_id_providers.items():
            if provider.url.rstrip("/") == url:
                return arn, url, provider
        raise _invalid(f"No OpenIDConnect provider found in your account for {issuer}")

    def _keys(self, issuer: str, refresh: bool) -> dict:
        with self._lock:
            cached = self._jwks.get(issuer)
        if cached and not refresh and self.clock() - cached[0] < JWKS_CACHE_SECONDS:
            return cached[1]
        try:
            discovery = self.fetch(issuer.rstrip("/") + "/.well-known/openid-configuration")
            jwks = self.fetch(discovery["jwks_uri"])
            keys = {k.get("kid"): k for k in jwks["keys"]}
        except Exception:  # any failure to reach or read the issuer is the same error at STS
            raise _invalid(_NO_KEY) from None
        with self._lock:
            self._jwks[issuer] = (self.clock(), keys)
        return keys

    def _verify_signature(self, token: str, issuer: str, header: dict) -> None:
        import jwt

        if header.get("alg") != "RS256":
            raise _invalid()
        keys = self._keys(issuer, refresh=False)
        if header.get("kid") not in keys:  # a rotated key: look again once
            keys = self._keys(issuer, refresh=True)
        jwk = keys.get(header.get("kid")) or (next(iter(keys.values())) if len(keys) == 1 and not header.get("kid")
                                              else None)
        if jwk is None:
            raise _invalid()
        try:
            jwt.decode(token, jwt.PyJWK(jwk, algorithm="RS256").key, algorithms=["RS256"],
                       options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                "verify_iss": False})
        except jwt.PyJWTError:
            raise _invalid() from None

    def verify(self, token: str) -> tuple[dict, str, str]:
        """(claims, provider ARN, provider URL) of a token STS would accept, else StsError."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _invalid() from None
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise _invalid()
        provider_arn, provider_url, provider = self._provider(issuer)
        self._verify_signature(token, issuer, header)
        now = int(self.clock())
        if not isinstance(claims.get("exp"), int | float):
            raise _invalid()
        if now >= claims["exp"]:
            raise StsError(400, "ExpiredTokenException",
                           f"Token expired: current date/time {now} must be before the expiration date/time {int(claims['exp'])}")
        if isinstance(claims.get("nbf"), int | float) and now + NBF_LEEWAY_SECONDS < claims["nbf"]:
            raise _invalid()
        audiences = iam_policy.listed(claims.get("aud"))
        if not any(a in provider.client_id_list for a in audiences):
            raise _invalid("Incorrect token audience")
        return claims, provider_arn, provider_url

    def assume(self, params: dict[str, str]) -> dict:
        """The AssumeRoleWithWebIdentityResult of a request's parameters, else StsError."""
        for name in ("RoleArn", "RoleSessionName", "WebIdentityToken"):
            if not params.get(name):
                raise StsError(400, "MissingParameter", f"The request must contain the parameter {name}")
        claims, provider_arn, provider_url = self.verify(params["WebIdentityToken"])
        role_arn = params["RoleArn"]
        role = next((r for r in self._iam().get_roles() if r.arn == role_arn), None)
        if role is None:
            raise _denied()
        context = iam_policy.web_identity_context(provider_url, claims)
        context["sts:rolesessionname"] = [params["RoleSessionName"]]
        decision, _ = iam_policy.trust_decision(iam_policy.document(role.assume_role_policy_document), ACTION,
                                                "Federated", provider_arn, context)
        if decision != "allowed":
            raise _denied()
        duration = int(params.get("DurationSeconds") or 3600)
        if duration < 900:
            raise StsError(400, "ValidationError", f"1 validation error detected: Value '{duration}' at 'durationSeconds' "
                                                   "failed to satisfy constraint: Member must have value greater than or "
                                                   "equal to 900")
        if duration > int(getattr(role, "max_session_duration", 3600) or 3600):
            raise StsError(400, "ValidationError",
                           "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        policy = params.get("Policy")
        assumed = self._sts().assume_role_with_web_identity(
            region_name="us-east-1", role_session_name=params["RoleSessionName"], role_arn=role_arn, policy=policy,
            duration=duration, external_id=None)
        expiration = self.clock() + duration
        with self._lock:
            self.sessions[assumed.access_key_id] = Session(assumed.access_key_id, role_arn, assumed.arn, expiration,
                                                           json.loads(policy) if policy else None)
        audience = next(a for a in iam_policy.listed(claims.get("aud")) if a in self._iam().open_id_providers[
            provider_arn].client_id_list)
        return {"Credentials": {"AccessKeyId": assumed.access_key_id, "SecretAccessKey": assumed.secret_access_key,
                                "SessionToken": assumed.session_token,
                                "Expiration": datetime.fromtimestamp(expiration, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
                "SubjectFromWebIdentityToken": str(claims.get("sub", "")),
                "AssumedRoleUser": {"AssumedRoleId": f"{role.id}:{params['RoleSessionName']}", "Arn": assumed.arn},
                "Provider": provider_arn, "Audience": audience}

    def __call__(self, params: dict[str, str], start_response) -> list[bytes]:
        """Answer an AssumeRoleWithWebIdentity request (its query or form parameters) as STS does, in XML."""
        request_id = str(uuid.uuid4())
        try:
            result = self.assume(params)
        except StsError as exc:
            return xml_error(start_response, exc.status, exc.code, exc.message, request_id)
        body = (f'<AssumeRoleWithWebIdentityResponse xmlns="{_NS}"><AssumeRoleWithWebIdentityResult>'
                f"{_xml(result)}</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>{request_id}"
                "</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>").encode()
        start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body))),
                                  ("x-amzn-RequestId", request_id)])
        return [body]


def _xml(value) -> str:
    if isinstance(value, dict):
        return "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in value.items())
    return escape(str(value))


_REASONS = {400: "400 Bad Request", 403: "403 Forbidden"}


def xml_error(start_response, status: int, code: str, message: str, request_id: str | None = None) -> list[bytes]:
    """An error as the query-protocol services (STS, IAM, SNS...) answer it."""
    request_id = request_id or str(uuid.uuid4())
    body = (f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()
    start_response(_REASONS.get(status, f"{status} Error"), [("Content-Type", "text/xml"),
                                                             ("Content-Length", str(len(body))),
                                                             ("x-amzn-RequestId", request_id)])
    return [body]
