"""EKS's pod identity webhook (IRSA), as a mutation applied when a pod is created: a pod whose service account is
annotated `eks.amazonaws.com/role-arn` gets a projected token volume `aws-iam-token` (audience sts.amazonaws.com,
24 h) mounted at /var/run/secrets/eks.amazonaws.com/serviceaccount, and in every container AWS_ROLE_ARN,
AWS_WEB_IDENTITY_TOKEN_FILE and AWS_STS_REGIONAL_ENDPOINTS=regional. Without the annotation nothing is added: the pod
has no AWS credentials at all.
"""

from __future__ import annotations

from helpers.localcloud.emulators.eks.oidc import AUDIENCE, TOKEN_SECONDS

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
AUDIENCE_ANNOTATION = "eks.amazonaws.com/audience"
MOUNT = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
VOLUME = "aws-iam-token"


def mutate(pod: dict, service_account: dict | None) -> dict:
    annotations = ((service_account or {}).get("metadata") or {}).get("annotations") or {}
    role_arn = annotations.get(ROLE_ANNOTATION)
    if not role_arn:
        return pod
    spec = pod.setdefault("spec", {})
    volumes = spec.setdefault("volumes", []) or []
    spec["volumes"] = volumes
    if not any(v.get("name") == VOLUME for v in volumes):
        volumes.append({"name": VOLUME, "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {
            "audience": annotations.get(AUDIENCE_ANNOTATION, AUDIENCE), "expirationSeconds": TOKEN_SECONDS,
            "path": "token"}}]}})
    for container in spec.get("containers") or []:
        env = container.setdefault("env", []) or []
        container["env"] = env
        names = {e.get("name") for e in env}
        for name, value in (("AWS_STS_REGIONAL_ENDPOINTS", "regional"), ("AWS_ROLE_ARN", role_arn),
                            ("AWS_WEB_IDENTITY_TOKEN_FILE", f"{MOUNT}/token")):
            if name not in names:
                env.append({"name": name, "value": value})
        mounts = container.setdefault("volumeMounts", []) or []
        container["volumeMounts"] = mounts
        if not any(m.get("name") == VOLUME for m in mounts):
            mounts.append({"name": VOLUME, "mountPath": MOUNT, "readOnly": True})
    return pod
