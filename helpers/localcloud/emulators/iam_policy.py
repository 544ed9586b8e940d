"""IAM policy evaluation for the local cloud, in one place: identity policies and role trust policies. (emulated)

Used by the policy simulator (`iam_simulator`), by web-identity federation (`web_identity`, a role's trust policy) and
by the enforcement of web-identity sessions' permissions (`iam_enforcement`).

What it evaluates, as IAM's evaluation logic does within one account: `Action`/`NotAction` (case-insensitive
wildcards), `Resource`/`NotResource` (case-sensitive wildcards), explicit deny over allow over the implicit deny.
Conditions with the String*, Arn* and Bool operators (with `IfExists` and the `ForAllValues:`/`ForAnyValue:`
qualifiers) against a context of keys (case-insensitive, as IAM's) to values; a key the context lacks makes the
statement not apply and is reported as missing. Other operators raise `InvalidPolicyInput`, or, with
`fail_closed=True`, make an Allow statement not apply and a Deny statement apply (what enforcement needs: never
more permissive than IAM). A resource of `None` means "not derived from the request" (action-level): every
`Resource` pattern matches it. Not evaluated: resource policies, SCPs, session policies, global keys not given.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

DECISIONS = ("allowed", "implicitDeny", "explicitDeny")  # least to most restrictive
_OPERATORS = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
              "StringNotLike", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Bool"}
Policy = tuple[str, str, dict]  # (policy id, policy type as IAM names it, document)


class InvalidPolicyInput(ValueError):
    """The policy cannot be evaluated here (a condition operator this evaluator does not know)."""


def listed(value) -> list:
    return [value] if isinstance(value, str | bool) else list(value or [])


def wildcard(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def conditions_hold(conditions: dict, context: dict[str, list[str]], missing: set[str]) -> bool:
    """Do all of a statement's conditions hold in `context` (keys lower-cased)? Keys the context lacks go to `missing`."""
    for operator, block in conditions.items():
        base = operator.removesuffix("IfExists")
        qualifier, _, base = base.rpartition(":")
        if base not in _OPERATORS:
            raise InvalidPolicyInput(f"the local IAM policy evaluator does not evaluate the condition operator {operator}")
        for key, wanted in block.items():
            given = context.get(key.lower())
            if given is None:
                if operator.endswith("IfExists"):
                    continue
                missing.add(key)
                return False
            wanted = [str(w).lower() if base == "Bool" else str(w) for w in listed(wanted)]
            negated = "Not" in base
            fold = base.endswith("IgnoreCase") or base == "Bool"
            like = base.endswith("Like") or base.startswith("Arn")

            def match(value: str, wanted=wanted, fold=fold, like=like) -> bool:
                return any(wildcard(w, value, not fold) if like else (w.lower() == value.lower() if fold else w == value)
                           for w in wanted)

            hits = [match(v) for v in given]
            found = all(hits) if qualifier == "ForAllValues" else any(hits)
            if found == negated:
                return False
    return True


def _resource_matches(patterns, resource: str | None) -> bool:
    return resource is None or any(wildcard(p, resource) for p in listed(patterns))


def statement_applies(statement: dict, action: str, resource: str | None, context: dict[str, list[str]],
                      missing: set[str], fail_closed: bool = False) -> bool:
    """Does the statement cover this action on this resource (None: any resource), in this context?"""
    if "Action" in statement:
        if not any(wildcard(p, action, case_sensitive=False) for p in listed(statement["Action"])):
            return False
    elif any(wildcard(p, action, case_sensitive=False) for p in listed(statement.get("NotAction"))):
        return False
    if "Resource" in statement:
        if not _resource_matches(statement["Resource"], resource):
            return False
    elif "NotResource" in statement and resource is not None and _resource_matches(statement["NotResource"], resource):
        return False
    try:
        return conditions_hold(statement.get("Condition", {}), context, missing)
    except InvalidPolicyInput:
        if fail_closed:
            return statement.get("Effect") == "Deny"
        raise


def statements(document: dict) -> list[dict]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def evaluate(policies: list[Policy], action: str, resource: str | None, context: dict[str, list[str]],
             fail_closed: bool = False) -> tuple[str, list[dict], list[str]]:
    """(decision, matched statements, missing context keys) for one action on one resource under (id, type, document)
    policies: an explicit deny wins, then an allow, else the implicit deny."""
    allows, denies, missing = [], [], set()
    for policy_id, policy_type, document in policies:
        for statement in statements(document):
            if statement_applies(statement, action, resource, context, missing, fail_closed):
                matched = {"SourcePolicyId": policy_id, "SourcePolicyType": policy_type}
                (denies if statement.get("Effect") == "Deny" else allows).append(matched)
    if denies:
        return "explicitDeny", denies, sorted(missing)
    if allows:
        return "allowed", allows, sorted(missing)
    return "implicitDeny", [], sorted(missing)


def lower_keys(context: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k.lower(): [str(v) for v in listed(vs)] for k, vs in context.items()}


def web_identity_context(provider_url: str, claims: dict) -> dict[str, list[str]]:
    """The condition keys IAM sets from an OIDC token for a trust policy: `<provider url>:sub`, `:aud` (and `:amr`
    when present), the provider URL being the issuer without `https://`, e.g. `oidc.eks.<region>.amazonaws.com/id/X`."""
    context = {f"{provider_url}:sub": [str(claims.get("sub", ""))],
               f"{provider_url}:aud": [str(a) for a in listed(claims.get("aud"))]}
    if "amr" in claims:
        context[f"{provider_url}:amr"] = [str(a) for a in listed(claims["amr"])]
    return lower_keys(context)


def _principal_matches(principal, kind: str, principal_arn: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return any(p == "*" or p == principal_arn for p in listed(principal.get(kind)))


def trust_decision(trust: dict, action: str, kind: str, principal_arn: str,
                   context: dict[str, list[str]]) -> tuple[str, list[str]]:
    """(decision, missing keys) of a role's trust policy for `action` (e.g. sts:AssumeRoleWithWebIdentity) by the
    principal `principal_arn` of `kind` (`Federated` for an OIDC provider's ARN, `AWS`, `Service`). Conditions
    this evaluator cannot read fail closed."""
    allowed, missing = False, set()
    for statement in statements(trust):
        if "Principal" in statement and not _principal_matches(statement["Principal"], kind, principal_arn):
            continue
        if "NotPrincipal" in statement and _principal_matches(statement["NotPrincipal"], kind, principal_arn):
            continue
        if not statement_applies({k: v for k, v in statement.items() if k not in ("Resource", "NotResource")},
                                 action, None, context, missing, fail_closed=True):
            continue
        if statement.get("Effect") == "Deny":
            return "explicitDeny", sorted(missing)
        allowed = True
    return ("allowed" if allowed else "implicitDeny"), sorted(missing)


def document(text) -> dict:
    """A policy document as IAM stores it (JSON, sometimes URL-encoded) or already parsed."""
    if isinstance(text, dict):
        return text
    return json.loads(unquote(text) if text.lstrip().startswith("%") else text)


def _default_version(policy) -> str:
    return next(v.document for v in policy.versions if v.is_default)


def principal_policies(backend, arn: str) -> tuple[list[Policy], list[Policy] | None]:
    """(identity policies, permissions boundary or None) of the role or user `arn`, from moto's IAM backend
    (in the gateway process)."""
    from moto.iam.exceptions import InvalidInput, NotFoundException

    kind = arn.split(":", 5)[-1].split("/", 1)[0] if arn.count(":") >= 5 else ""
    if kind == "role":
        principal = next((r for r in backend.get_roles() if r.arn == arn), None)
    elif kind == "user":
        principal = next((u for u in backend.users.values() if u.arn == arn), None)
    else:
        raise InvalidInput(f"PolicySourceArn {arn} is not a role or user ARN (the local IAM simulator evaluates those).")
    if principal is None:
        raise NotFoundException(f"The {kind} with ARN {arn} cannot be found.")
    inline = [(name, kind, document(doc)) for name, doc in principal.policies.items()]
    managed = [(p.name, "aws-managed" if ":aws:policy/" in p.arn else "user-managed", document(_default_version(p)))
               for p in principal.managed_policies.values()]
    boundary_arn = getattr(principal, "permissions_boundary_arn", None)
    boundary = None
    if boundary_arn:
        policy = backend.get_policy(boundary_arn)
        boundary = [(policy.name, "user-managed", document(_default_version(policy)))]
    return inline + managed, boundary


def decide(policies: list[Policy], boundary: list[Policy] | None, action: str, resource: str | None,
           context: dict[str, list[str]], fail_closed: bool = False) -> tuple[str, list[dict], list[str]]:
    """`evaluate` under identity policies limited by a permissions boundary (None: no boundary)."""
    decision, matched, missing = evaluate(policies, action, resource, context, fail_closed)
    if boundary is not None and decision == "allowed":
        limit, limit_matched, limit_missing = evaluate(boundary, action, resource, context, fail_closed)
        if limit != "allowed":  # a boundary only limits: outside it, the allow does not count
            return limit, limit_matched, sorted(set(missing) | set(limit_missing))
    return decision, matched, missing
