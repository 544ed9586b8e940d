"""IAM's policy simulator, `SimulatePrincipalPolicy`, which moto lacks: what may this role do? (emulated)

Served by moto's IAM (the gateway process patches moto's IAM responses), so a stock
`boto3.client("iam").simulate_principal_policy(...)` gets IAM's answer shape: one `EvaluationResult` per action,
the most restrictive decision across the resources, and `ResourceSpecificResults` per resource ARN given.

What it evaluates, as IAM's evaluation logic does for identity policies in one account: the principal's inline and
attached managed policies (a role's or a user's; a user's groups are not read), the `PolicyInputList`, and a
permissions boundary when the principal has one. `Action`/`NotAction` (case-insensitive wildcards),
`Resource`/`NotResource` (case-sensitive wildcards), explicit deny over allow over the implicit deny. Conditions
with the String*, Arn* and Bool operators (with `IfExists`) against `ContextEntries`; a key the entries lack
makes the statement not apply and is listed in `MissingContextValues`, as IAM lists it. Other operators are
refused with InvalidInput rather than guessed. Not evaluated: resource policies, SCPs, session policies, global
context keys IAM fills in itself.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

DECISIONS = ("allowed", "implicitDeny", "explicitDeny")  # least to most restrictive
_OPERATORS = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
              "StringNotLike", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Bool"}


class InvalidPolicyInput(ValueError):
    """The simulation cannot be evaluated here (an operator this simulator does not know)."""


def _listed(value) -> list:
    return [value] if isinstance(value, str | bool) else list(value or [])


def wildcard(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _condition_holds(conditions: dict, context: dict[str, list[str]], missing: set[str]) -> bool:
    for operator, block in conditions.items():
        base = operator.removesuffix("IfExists")
        qualifier, _, base = base.rpartition(":")
        if base not in _OPERATORS:
            raise InvalidPolicyInput(f"the local IAM simulator does not evaluate the condition operator {operator}")
        for key, wanted in block.items():
            given = context.get(key.lower())
            if given is None:
                if operator.endswith("IfExists"):
                    continue
                missing.add(key)
                return False
            wanted = [str(w).lower() if base == "Bool" else str(w) for w in _listed(wanted)]
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


def statement_applies(statement: dict, action: str, resource: str, context: dict[str, list[str]], missing: set[str]) -> bool:
    """Does the statement cover this action on this resource, in this context?"""
    if "Action" in statement:
        if not any(wildcard(p, action, case_sensitive=False) for p in _listed(statement["Action"])):
            return False
    elif any(wildcard(p, action, case_sensitive=False) for p in _listed(statement.get("NotAction"))):
        return False
    if "Resource" in statement:
        if not any(wildcard(p, resource) for p in _listed(statement["Resource"])):
            return False
    elif "NotResource" in statement and any(wildcard(p, resource) for p in _listed(statement["NotResource"])):
        return False
    return _condition_holds(statement.get("Condition", {}), context, missing)


def evaluate(policies: list[tuple[str, str, dict]], action: str, resource: str,
             context: dict[str, list[str]]) -> tuple[str, list[dict], list[str]]:
    """(decision, matched statements, missing context keys) for one action on one resource under (id, type, document)
    policies: an explicit deny wins, then an allow, else the implicit deny."""
    allows, denies, missing = [], [], set()
    for policy_id, policy_type, document in policies:
        statements = document.get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            if statement_applies(statement, action, resource, context, missing):
                matched = {"SourcePolicyId": policy_id, "SourcePolicyType": policy_type}
                (denies if statement.get("Effect") == "Deny" else allows).append(matched)
    if denies:
        return "explicitDeny", denies, sorted(missing)
    if allows:
        return "allowed", allows, sorted(missing)
    return "implicitDeny", [], sorted(missing)


def simulate(policies: list[tuple[str, str, dict]], actions: list[str], resources: list[str] | None,
             context: dict[str, list[str]], boundary: list[tuple[str, str, dict]] | None = None) -> list[dict]:
    """SimulatePrincipalPolicy's EvaluationResults."""
    results = []
    for action in actions:
        per_resource = []
        for resource in resources or ["*"]:
            decision, matched, missing = evaluate(policies, action, resource, context)
            if boundary is not None and decision == "allowed":
                limit, limit_matched, limit_missing = evaluate(boundary, action, resource, context)
                if limit != "allowed":  # a boundary only limits: outside it, the allow does not count
                    decision, matched, missing = limit, limit_matched, sorted(set(missing) | set(limit_missing))
            per_resource.append({"EvalResourceName": resource, "EvalResourceDecision": decision,
                                 "MatchedStatements": matched, "MissingContextValues": missing})
        worst = max(per_resource, key=lambda r: DECISIONS.index(r["EvalResourceDecision"]))
        result = {"EvalActionName": action, "EvalResourceName": per_resource[0]["EvalResourceName"] if len(per_resource) == 1
                  else "*", "EvalDecision": worst["EvalResourceDecision"], "MatchedStatements": worst["MatchedStatements"],
                  "MissingContextValues": sorted({k for r in per_resource for k in r["MissingContextValues"]})}
        if resources:
            result["ResourceSpecificResults"] = per_resource
        results.append(result)
    return results


def _document(text: str) -> dict:
    return json.loads(unquote(text) if text.lstrip().startswith("%") else text)


def principal_policies(backend, arn: str) -> tuple[list[tuple[str, str, dict]], list[tuple[str, str, dict]] | None]:
    """(identity policies, permissions boundary or None) of the role or user `arn`, from moto's IAM backend."""
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
    inline = [(name, kind, _document(doc)) for name, doc in principal.policies.items()]
    managed = [(p.name, "aws-managed" if ":aws:policy/" in p.arn else "user-managed", _document(_default_version(p)))
               for p in principal.managed_policies.values()]
    boundary_arn = getattr(principal, "permissions_boundary_arn", None)
    boundary = None
    if boundary_arn:
        policy = backend.get_policy(boundary_arn)
        boundary = [(policy.name, "user-managed", _document(_default_version(policy)))]
    return inline + managed, boundary


def _default_version(policy) -> str:
    return next(v.document for v in policy.versions if v.is_default)


def apply() -> None:
    """Teach moto's IAM the SimulatePrincipalPolicy action (gateway process only)."""
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import InvalidInput
    from moto.iam.responses import IamResponse

    if getattr(IamResponse, "_workbook_simulator", False):
        return

    def simulate_principal_policy(self) -> ActionResult:
        policies, boundary = principal_policies(self.backend, self._get_param("PolicySourceArn"))
        extra = [(f"PolicyInputList.{n}", "none", _document(doc))
                 for n, doc in enumerate(self._get_param("PolicyInputList") or [], start=1)]
        context = {e["ContextKeyName"].lower(): [str(v) for v in e.get("ContextKeyValues", [])]
                   for e in self._get_param("ContextEntries") or []}
        try:
            results = simulate(policies + extra, self._get_param("ActionNames") or [], self._get_param("ResourceArns"),
                               context, boundary)
        except InvalidPolicyInput as exc:
            raise InvalidInput(str(exc)) from None
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

    IamResponse.simulate_principal_policy = simulate_principal_policy
    IamResponse._workbook_simulator = True
