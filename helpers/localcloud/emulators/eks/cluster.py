"""One local EKS cluster: its objects, OIDC issuer, creator (the bootstrap admin) and running pods."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

from helpers.localcloud.emulators.eks.objects import RESOURCES, Store, now
from helpers.localcloud.emulators.eks.oidc import Issuer
from helpers.localcloud.emulators.eks.runtime import PodRuntime

EVENTS = RESOURCES[("", "events")]


class Cluster:
    def __init__(self, name: str, account: str, region: str, creator_arn: str, base_url: str, gateway: str,
                 state_dir: Path):
        self.name, self.account, self.region, self.creator_arn = name, account, region, creator_arn
        self.id = secrets.token_hex(16).upper()
        self.endpoint = f"{base_url}/clusters/{self.id}"
        self.issuer = Issuer(f"{base_url}/id/{self.id}")
        self.gateway = gateway
        self.localcloud_dir = state_dir
        self.pods_dir = state_dir / "eks" / "pods"
        self.node_name = f"ip-127-0-0-1.{region}.compute.internal"
        self.store = Store()
        self.pods: dict[tuple[str, str], PodRuntime] = {}
        self.lock = threading.Lock()

    def service_account(self, namespace: str, name: str) -> dict | None:
        return self.store.get(RESOURCES[("", "serviceaccounts")], namespace, name)

    def record_event(self, namespace: str, involved: dict, reason: str, message: str, kind: str = "Normal"):
        stamp = now()
        self.store.create(EVENTS, namespace, {
            "metadata": {"name": f"{involved['name']}.{time.time_ns():x}"}, "involvedObject": involved, "reason": reason,
            "message": message, "type": kind, "count": 1, "firstTimestamp": stamp, "lastTimestamp": stamp,
            "source": {"component": "kubelet" if reason != "Scheduled" else "default-scheduler",
                       "host": self.node_name if reason != "Scheduled" else None},
            "reportingComponent": "kubelet" if reason != "Scheduled" else "default-scheduler",
            "reportingInstance": self.node_name if reason != "Scheduled" else ""})

    def run_pod(self, pod: dict) -> PodRuntime:
        runtime = PodRuntime(self, pod)
        with self.lock:
            self.pods[(runtime.namespace, runtime.name)] = runtime
        runtime.start()
        return runtime

    def stop_pod(self, namespace: str, name: str, wait: bool = False):
        with self.lock:
            runtime = self.pods.pop((namespace, name), None)
        if runtime is None:
            return
        if wait:
            runtime.stop()
        else:
            threading.Thread(target=runtime.stop, name=f"eks-stop-{name}", daemon=True).start()

    def shutdown(self):
        with self.lock:
            runtimes = list(self.pods.values())
            self.pods.clear()
        for runtime in runtimes:
            runtime.stop(grace=1.0)
