"""A cluster's OIDC issuer, as EKS runs one per cluster: a discovery document, a JWKS and the projected service-account
tokens it signs (RS256), which IAM's AssumeRoleWithWebIdentity verifies against the JWKS.

Issuer URL: `https://127.0.0.1:<port>/id/<32 upper-case hex>` (EKS: `https://oidc.eks.<region>.amazonaws.com/id/<ID>`).
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "sts.amazonaws.com"
TOKEN_SECONDS = 86400  # EKS's pod identity webhook projects tokens for 24 h


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Issuer:
    def __init__(self, url: str):
        self.url = url
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        self.jwk = {"kty": "RSA", "alg": "RS256", "use": "sig", "n": _b64(numbers.n), "e": _b64(numbers.e)}
        self.jwk["kid"] = hashlib.sha1(self.jwk["n"].encode()).hexdigest()

    def discovery(self) -> dict:
        return {"issuer": self.url, "jwks_uri": f"{self.url}/keys", "authorization_endpoint": "urn:kubernetes:programmatic_authorization",
                "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                "claims_supported": ["sub", "iss"], "id_token_signing_alg_values_supported": ["RS256"]}

    def jwks(self) -> dict:
        return {"keys": [self.jwk]}

    def token(self, namespace: str, service_account: str, sa_uid: str, pod: str | None, pod_uid: str | None,
              audience: str = AUDIENCE, seconds: int = TOKEN_SECONDS) -> str:
        """A projected service-account token as the kubelet writes one for a pod (`pod` None: a TokenRequest's)."""
        now = int(time.time())
        claims = {"aud": [audience], "exp": now + seconds, "iat": now, "nbf": now, "iss": self.url,
                  "jti": str(uuid.uuid4()), "sub": f"system:serviceaccount:{namespace}:{service_account}",
                  "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": service_account, "uid": sa_uid},
                                    **({"pod": {"name": pod, "uid": pod_uid}} if pod else {})}}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.jwk["kid"]})
