"""Who may do what in a local cluster: EKS's mapping of IAM principals to Kubernetes users, then RBAC.

- The cluster creator's IAM principal is cluster admin (EKS's bootstrap admin: user `kubernetes-admin`, group
  `system:masters`), whatever the ConfigMap says.
- Others are mapped by the `aws-auth` ConfigMap in `kube-system` (`mapRoles`: rolearn -> username, groups; `mapUsers`:
  userarn -> username, groups); `{{SessionName}}`, `{{AccountID}}` and `{{SessionNameRaw}}` are filled in. An IAM
  principal with no mapping does not authenticate (401), as on EKS.
- Group `system:masters` may do anything. Otherwise Roles and ClusterRoles bound by RoleBindings (in the request's
  namespace) and ClusterRoleBindings allow by apiGroups, resources (`pods/log`, `pods/exec` for subresources),
  verbs and resourceNames; `*` matches any. Nothing denies: RBAC is allow-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from helpers.localcloud.emulators.eks.authn import Principal
from helpers.localcloud.emulators.eks.objects import RBAC, RESOURCES, Store

ADMIN_GROUP = "system:masters"


@dataclass
class User:
    name: str
    groups: list[str] = field(default_factory=list)
    arn: str = ""


@dataclass
class Attributes:
    verb: str
    resource: str  # plural, e.g. pods
    group: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""

    @property
    def full_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _mappings(store: Store) -> list[dict]:
    config_map = store.get(RESOURCES[("", "configmaps")], "kube-system", "aws-auth") or {}
    found = []
    for key, arn_key in (("mapRoles", "rolearn"), ("mapUsers", "userarn")):
        try:
            entries = yaml.safe_load((config_map.get("data") or {}).get(key) or "[]") or []
        except yaml.YAMLError:
            entries = []
        found.extend({**entry, "arn": entry.get(arn_key, "")} for entry in entries if isinstance(entry, dict))
    return found


def user_for(store: Store, principal: Principal, creator_arn: str) -> User | None:
    """The Kubernetes user an IAM principal is, or None when the cluster does not map it."""
    if principal.arn in (creator_arn, principal.caller_arn) and creator_arn:
        return User("kubernetes-admin", [ADMIN_GROUP, "system:authenticated"], principal.arn)
    for entry in _mappings(store):
        if entry["arn"] in (principal.arn, principal.caller_arn):
            name = str(entry.get("username") or principal.caller_arn)
            for placeholder, value in (("{{SessionName}}", principal.session_name.replace("@", "-")),
                                       ("{{SessionNameRaw}}", principal.session_name),
                                       ("{{AccountID}}", principal.account)):
                name = name.replace(placeholder, value)
            return User(name, [*(entry.get("groups") or []), "system:authenticated"], principal.arn)
    return None


def _rule_allows(rule: dict, attrs: Attributes) -> bool:
    def has(values, wanted):
        return "*" in (values or []) or wanted in (values or [])

    return (has(rule.get("apiGroups"), attrs.group) and has(rule.get("verbs"), attrs.verb)
            and has(rule.get("resources"), attrs.full_resource)
            and (not rule.get("resourceNames") or attrs.name in rule["resourceNames"]))


def _binds(binding: dict, user: User) -> bool:
    for subject in binding.get("subjects") or []:
        if subject.get("kind") == "User" and subject.get("name") == user.name:
            return True
        if subject.get("kind") == "Group" and subject.get("name") in user.groups:
            return True
    return False


def allowed(store: Store, user: User, attrs: Attributes) -> bool:
    if ADMIN_GROUP in user.groups:
        return True
    bindings = [(b, b["metadata"].get("namespace", "")) for b in store.list(RESOURCES[(RBAC, "clusterrolebindings")], None)]
    if attrs.namespace:
        bindings += [(b, attrs.namespace) for b in store.list(RESOURCES[(RBAC, "rolebindings")], attrs.namespace)]
    for binding, namespace in bindings:
        if not _binds(binding, user):
            continue
        ref = binding.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            role = store.get(RESOURCES[(RBAC, "clusterroles")], "", ref.get("name", ""))
        else:
            role = store.get(RESOURCES[(RBAC, "roles")], namespace, ref.get("name", ""))
        if role and any(_rule_allows(rule, attrs) for rule in role.get("rules") or []):
            return True
    return False


def forbidden_message(user: User, attrs: Attributes) -> str:
    """Kubernetes' own wording, e.g. `pods is forbidden: User "x" cannot create resource "pods" in API group "" in the
    namespace "mwaa"`."""
    what = f'{attrs.resource} "{attrs.name}"' if attrs.name else attrs.resource
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return (f'{what} is forbidden: User "{user.name}" cannot {attrs.verb} resource "{attrs.full_resource}" '
            f'in API group "{attrs.group}" {where}')
