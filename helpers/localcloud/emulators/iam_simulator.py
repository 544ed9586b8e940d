"""IAM's policy simulator, `SimulatePrincipalPolicy`, which moto lacks: what may this role do? (emulated)

Served by moto's IAM (the gateway process patches moto's IAM responses), so a stock
`boto3.client("iam").simulate_principal_policy(...)` gets IAM's answer shape: one `EvaluationResult` per action,
the most restrictive decision across the resources, and `ResourceSpecificResults` per resource ARN given.

What it evaluates: the principal's inline and attached managed policies (a role's or a user's; a user's groups are
not read), the `PolicyInputList`, and a permissions boundary when the principal has one, with the rules of
`iam_policy` (wildcards, explicit deny, String*/Arn*/Bool conditions against `ContextEntries`; a key the entries
lack is listed in `MissingContextValues`, as IAM lists it). Other condition operators are refused with InvalidInput
rather than guessed. Not evaluated: resource policies, SCPs, session policies, global context keys IAM fills in itself.
"""

from __future__ import annotations

from helpers.localcloud.emulators.iam_policy import (  # noqa: F401 (names the simulator's callers import)
    DECISIONS,
    InvalidPolicyInput,
    Policy,
    decide,
    document,
    evaluate,
    principal_policies,
    wildcard,
)


def simulate(policies: list[Policy], actions: list[str], resources: list[str] | None,
             context: dict[str, list[str]], boundary: list[Policy] | None = None) -> list[dict]:
    """SimulatePrincipalPolicy's EvaluationResults."""
    results = []
    for action in actions:
        per_resource = []
        for resource in resources or ["*"]:
            decision, matched, missing = decide(policies, boundary, action, resource, context)
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


def apply() -> None:
    """Teach moto's IAM the SimulatePrincipalPolicy action (gateway process only)."""
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import InvalidInput
    from moto.iam.responses import IamResponse

    if getattr(IamResponse, "_workbook_simulator", False):
        return

    def simulate_principal_policy(self) -> ActionResult:
        policies, boundary = principal_policies(self.backend, self._get_param("PolicySourceArn"))
        extra = [(f"PolicyInputList.{n}", "none", document(doc))
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
