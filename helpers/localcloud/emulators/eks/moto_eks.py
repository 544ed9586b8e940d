"""moto's EKS, corrected so a cluster can be used: CreateCluster and DescribeCluster return the local cluster's
`endpoint` (its Kubernetes API over HTTPS), `certificateAuthority.data` (base64 of the local CA's PEM) and
`identity.oidc.issuer` (its OIDC issuer); moto returns random strings there. The identity that called CreateCluster
is remembered as the cluster's creator (EKS makes it cluster admin). DeleteCluster stops the cluster's pods.
"""

from __future__ import annotations

import base64
import re
import threading

_CALLER = threading.local()
_KEY = re.compile(r"Credential=([^/,\s]+)/")


def apply(emulator) -> None:
    from moto.eks.models import EKSBackend
    from moto.eks.responses import EKSResponse

    if getattr(EKSBackend, "_workbook_local_eks", None) is not None:
        EKSBackend._workbook_local_eks = emulator
        return
    EKSBackend._workbook_local_eks = emulator
    create_response, create, delete = EKSResponse.create_cluster, EKSBackend.create_cluster, EKSBackend.delete_cluster

    def create_cluster_response(self):
        match = _KEY.search(self.headers.get("Authorization", ""))
        _CALLER.arn = _caller_arn(match.group(1) if match else "", self.current_account, self.region)
        try:
            return create_response(self)
        finally:
            _CALLER.arn = ""

    def create_cluster(self, name, *args, **kwargs):
        cluster = create(self, name, *args, **kwargs)
        local = EKSBackend._workbook_local_eks.add_cluster(name, self.account_id, self.region_name,
                                                          getattr(_CALLER, "arn", "") or "")
        cluster.endpoint = local.endpoint
        cluster.certificate_authority = {"data": base64.b64encode(EKSBackend._workbook_local_eks.ca_pem).decode()}
        cluster.identity = {"oidc": {"issuer": local.issuer.url}}
        return cluster

    def delete_cluster(self, name):
        cluster = delete(self, name)
        EKSBackend._workbook_local_eks.remove_cluster(name, self.account_id, self.region_name)
        return cluster

    EKSResponse.create_cluster = create_cluster_response
    EKSBackend.create_cluster = create_cluster
    EKSBackend.delete_cluster = delete_cluster


def _caller_arn(access_key: str, account: str, region: str) -> str:
    """The ARN STS's GetCallerIdentity gives for an access key, asked of moto in-process; an assumed role's ARN is
    its role's."""
    from moto.sts.models import sts_backends

    from helpers.localcloud.emulators.eks.authn import _ASSUMED

    try:
        partition = "aws"
        _, arn, _ = sts_backends[account][partition].get_caller_identity(access_key, region)
    except Exception:  # noqa: BLE001  (no creator: only aws-auth mappings grant access)
        return ""
    if match := _ASSUMED.match(arn):
        part, acct, role, _session = match.groups()
        return f"arn:{part}:iam::{acct}:role/{role}"
    return arn
