"""Deleting EKS clusters, in the order EKS accepts: node groups first (a cluster that has any cannot be deleted)."""

from __future__ import annotations

import botocore.exceptions

from helpers.aws import cloud
from helpers.procs import wait_until


def _interval() -> float:
    return 0.5 if cloud.settings().is_local else 10  # EKS takes minutes to delete; the local cloud no time


NOT_FOUND = frozenset({"ResourceNotFoundException", "NoSuchEntity", "ParameterNotFound"})  # EKS, IAM, SSM


def missing(call, codes: frozenset[str] = NOT_FOUND) -> bool:
    """True if `call` answers that its resource does not exist; other errors are raised."""
    try:
        call()
        return False
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] in codes:
            return True
        raise


def cluster_exists(name: str) -> bool:
    return not missing(lambda: cloud.client("eks").describe_cluster(name=name))


def delete_nodegroup(cluster: str, nodegroup: str, timeout: float = 1800) -> bool:
    """Delete a node group and wait until it is gone. False if it did not exist."""
    eks = cloud.client("eks")
    if missing(lambda: eks.delete_nodegroup(clusterName=cluster, nodegroupName=nodegroup)):
        return False
    wait_until(lambda: missing(lambda: eks.describe_nodegroup(clusterName=cluster, nodegroupName=nodegroup)), timeout,
               f"node group {nodegroup} deleted", interval=_interval())
    return True


def delete_cluster(name: str, timeout: float = 1800) -> list[str]:
    """Delete a cluster's node groups, then the cluster, waiting for each. Returns what was deleted
    (`nodegroup/<cluster>/<name>`, `cluster/<name>`); empty if the cluster did not exist."""
    eks = cloud.client("eks")
    if not cluster_exists(name):
        return []
    deleted = [f"nodegroup/{name}/{group}" for group in eks.list_nodegroups(clusterName=name)["nodegroups"]
               if delete_nodegroup(name, group, timeout)]
    eks.delete_cluster(name=name)
    wait_until(lambda: not cluster_exists(name), timeout, f"cluster {name} deleted", interval=_interval())
    return deleted + [f"cluster/{name}"]
