"""The local EKS (emulated): moto's EKS control plane plus, per cluster, the part of the Kubernetes API that Airflow's
`EksPodOperator` and the workbook use, served over HTTPS, with pods run as local processes and an OIDC issuer for IRSA.

Modules: `moto_eks` (endpoint, CA and issuer in CreateCluster/DescribeCluster), `certs` (CA and server certificate
under `<state>/eks/`), `server` (the HTTPS server, a thread of the gateway), `api` (the Kubernetes API subset and the
issuer's documents), `authn` (EKS bearer tokens: presigned STS GetCallerIdentity), `access` (aws-auth and RBAC),
`objects` (the objects, selectors, patches), `webhook` (IRSA's pod mutation), `oidc` (the issuer and its tokens),
`images` (the image table), `runtime` (pods as processes), `cluster` (one cluster).

`start(state_dir, endpoint)` is called by `load_emulators` in the gateway process; `shutdown()` stops every pod.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path

from helpers.localcloud.emulators.eks import certs, moto_eks
from helpers.localcloud.emulators.eks.api import Api
from helpers.localcloud.emulators.eks.cluster import Cluster
from helpers.localcloud.emulators.eks.server import HttpsServer


class LocalEks:
    def __init__(self, state_dir: str | Path, gateway: str):
        self.state_dir = Path(state_dir)
        self.gateway = gateway
        self.ca_path, cert, key = certs.ensure(self.state_dir / "eks")
        self.ca_pem = self.ca_path.read_bytes()
        self.clusters: dict[tuple[str, str, str], Cluster] = {}
        self.by_id: dict[str, Cluster] = {}
        self.lock = threading.Lock()
        self.server = HttpsServer(Api(self.by_id).app(), cert, key)

    def start(self) -> LocalEks:
        self.server.start()
        moto_eks.apply(self)
        atexit.register(self.shutdown)
        return self

    def add_cluster(self, name: str, account: str, region: str, creator_arn: str) -> Cluster:
        cluster = Cluster(name, account, region, creator_arn, self.server.url, self.gateway, self.state_dir)
        with self.lock:
            self.clusters[(account, region, name)] = cluster
            self.by_id[cluster.id] = cluster
        return cluster

    def remove_cluster(self, name: str, account: str, region: str) -> None:
        with self.lock:
            cluster = self.clusters.pop((account, region, name), None)
            if cluster is not None:
                self.by_id.pop(cluster.id, None)
        if cluster is not None:
            cluster.shutdown()

    def shutdown(self) -> None:
        with self.lock:
            clusters = list(self.clusters.values())
            self.clusters.clear()
            self.by_id.clear()
        for cluster in clusters:
            cluster.shutdown()
        self.server.stop()


def start(state_dir: str | Path, endpoint: str) -> LocalEks:
    return LocalEks(state_dir, endpoint).start()
