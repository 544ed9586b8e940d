"""A cluster's Kubernetes objects, kept in memory as the JSON the API returns (lost with the gateway, like moto's).

Resources are named by (API group, plural); each has its kind and whether it lives in a namespace. Objects get a
uid, a creationTimestamp and a resourceVersion from one counter per cluster, as the API server gives them.
"""

from __future__ import annotations

import copy
import datetime
import threading
import uuid
from dataclasses import dataclass

RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Resource:
    group: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/v1" if self.group else "v1"


RESOURCES = {(r.group, r.plural): r for r in (
    Resource("", "namespaces", "Namespace", namespaced=False),
    Resource("", "serviceaccounts", "ServiceAccount"),
    Resource("", "configmaps", "ConfigMap"),
    Resource("", "pods", "Pod"),
    Resource("", "events", "Event"),
    Resource(RBAC, "roles", "Role"),
    Resource(RBAC, "rolebindings", "RoleBinding"),
    Resource(RBAC, "clusterroles", "ClusterRole", namespaced=False),
    Resource(RBAC, "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
)}
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Conflict(Exception):
    pass


class Store:
    """Objects by (group, plural, namespace, name). Thread-safe: the API and pod runtimes both write."""

    def __init__(self):
        self.lock = threading.RLock()
        self.version = 0
        self.objects: dict[tuple[str, str, str, str], dict] = {}
        for name in SYSTEM_NAMESPACES:
            self.create(RESOURCES[("", "namespaces")], "", {"metadata": {"name": name}})

    def _next(self) -> str:
        self.version += 1
        return str(self.version)

    def get(self, resource: Resource, namespace: str, name: str) -> dict | None:
        with self.lock:
            found = self.objects.get((resource.group, resource.plural, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list(self, resource: Resource, namespace: str | None) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(obj) for (group, plural, ns, _), obj in sorted(self.objects.items())
                    if (group, plural) == (resource.group, resource.plural) and namespace in (None, ns)]

    def create(self, resource: Resource, namespace: str, body: dict) -> dict:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        key = (resource.group, resource.plural, namespace, meta.get("name", ""))
        with self.lock:
            if key in self.objects:
                raise Conflict(meta.get("name"))
            obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), resourceVersion=self._next())
            if resource.namespaced:
                meta["namespace"] = namespace
            self.objects[key] = obj
            if resource.plural == "namespaces":
                obj.setdefault("spec", {"finalizers": ["kubernetes"]})
                obj["status"] = {"phase": "Active"}
                self.create(RESOURCES[("", "serviceaccounts")], meta["name"], {"metadata": {"name": "default"}})
            return copy.deepcopy(obj)

    def replace(self, resource: Resource, namespace: str, name: str, body: dict) -> dict | None:
        key = (resource.group, resource.plural, namespace, name)
        with self.lock:
            old = self.objects.get(key)
            if old is None:
                return None
            obj = copy.deepcopy(body)
            meta = obj.setdefault("metadata", {})
            for kept in ("uid", "creationTimestamp", "namespace", "name"):
                if kept in old["metadata"]:
                    meta[kept] = old["metadata"][kept]
            obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
            if "status" in old and resource.plural in ("namespaces", "pods"):
                obj["status"] = old["status"]  # status is the system's: a PUT of the object does not change it
            meta["resourceVersion"] = self._next()
            self.objects[key] = obj
            return copy.deepcopy(obj)

    def update(self, resource: Resource, namespace: str, name: str, change) -> dict | None:
        """Apply `change(obj)` in place under the lock (pod runtimes updating status)."""
        key = (resource.group, resource.plural, namespace, name)
        with self.lock:
            obj = self.objects.get(key)
            if obj is None:
                return None
            change(obj)
            obj["metadata"]["resourceVersion"] = self._next()
            return copy.deepcopy(obj)

    def delete(self, resource: Resource, namespace: str, name: str) -> dict | None:
        with self.lock:
            obj = self.objects.pop((resource.group, resource.plural, namespace, name), None)
            if obj is not None and resource.plural == "namespaces":
                for key in [k for k in self.objects if k[2] == name and RESOURCES[k[:2]].namespaced]:
                    del self.objects[key]
            return obj


def merge_patch(target, patch):
    """JSON merge patch (RFC 7386); strategic merge on labels, annotations and other maps is the same."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict, ops: list[dict]) -> dict:
    """JSON patch (RFC 6902): add, replace, remove on object paths (enough for labels and annotations)."""
    result = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        node = result
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            if isinstance(node, list):
                node.insert(len(node) if last == "-" else int(last), op["value"])
            else:
                node[last] = op["value"]
        elif op["op"] == "remove":
            node.pop(int(last) if isinstance(node, list) else last)
    return result


def matches_labels(labels: dict, selector: str) -> bool:
    """A label selector: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma-separated."""
    labels = labels or {}
    for term in _split_terms(selector or ""):
        term = term.strip()
        if not term:
            continue
        if " notin " in term or " in " in term:
            key, op, values = term.partition(" notin ") if " notin " in term else term.partition(" in ")
            choices = {v.strip() for v in values.strip().strip("()").split(",")}
            inside = labels.get(key.strip()) in choices
            if inside != (op == " in "):
                return False
        elif "!=" in term:
            key, _, value = term.partition("!=")
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, _, value = term.replace("==", "=").partition("=")
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _split_terms(selector: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    return [*terms, current]


def field_value(obj: dict, path: str):
    node = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def matches_fields(obj: dict, selector: str) -> bool:
    """A field selector: `a.b=v`, `a.b==v`, `a.b!=v` (metadata.name, status.phase, involvedObject.name, ...)."""
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        negate = "!=" in term
        key, _, value = term.replace("!=", "=").replace("==", "=").partition("=")
        actual = field_value(obj, key.strip())
        if (str(actual if actual is not None else "") == value.strip()) == negate:
            return False
    return True
