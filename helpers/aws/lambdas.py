"""Lambda functions from the chapters' modules (e.g. helpers/chapters/shared_vpc/), and EventBridge rules that invoke them.

The one place that knows how a rule reaches a function on each target: on AWS the rule targets the function
(with permission for EventBridge to invoke it); on the local cloud, whose EventBridge cannot target Lambda,
the rule targets an SQS queue and the local cloud's Lambda runner invokes the same deployed code for each
delivered event (emulated). Invoking a function is the same boto3 Invoke call on both targets.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import botocore.exceptions
import pandas as pd

from helpers import localcloud
from helpers.aws import cloud
from helpers.aws.tags import tags
from helpers.errors import WorkbookError

LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def package(module: str) -> bytes:
    """A deployment zip: the module's source, unchanged, as lambda_function.py."""
    source = inspect.getsource(importlib.import_module(module))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("lambda_function.py", date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


def deploy(name: str, module: str, role_arn: str, notebook: str, timeout: int = 300) -> str:
    """Create or update the function from a module of a chapter (e.g. helpers.chapters.shared_vpc). Returns its ARN."""
    lam = cloud.client("lambda")
    code = package(module)
    try:
        arn = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role_arn, Timeout=timeout,
                                  Handler="lambda_function.lambda_handler", Code={"ZipFile": code},
                                  Tags=tags(notebook))["FunctionArn"]
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceConflictException":
            raise
        arn = lam.update_function_code(FunctionName=name, ZipFile=code)["FunctionArn"]
    return arn


def route_rule(rule: str, function: str, notebook: str) -> str:
    """Make the rule invoke the function; returns how, in one line for the learner."""
    events, lam = cloud.client("events"), cloud.client("lambda")
    function_arn = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    if not cloud.settings().is_local:
        rule_arn = events.describe_rule(Name=rule)["Arn"]
        try:
            lam.add_permission(FunctionName=function, StatementId=f"{rule}-invoke", Action="lambda:InvokeFunction",
                               Principal="events.amazonaws.com", SourceArn=rule_arn)
        except botocore.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceConflictException":
                raise
    target = rule_target(rule, function_arn, notebook)
    events.put_targets(Rule=rule, Targets=[{"Id": function, "Arn": target}])
    if not cloud.settings().is_local:
        return f"rule {rule} -> Lambda function {function}"
    return f"rule {rule} -> SQS queue -> local Lambda runner -> function {function} (Lambda invocation emulated)"


def rule_target(rule: str, function_arn: str, notebook: str) -> str:
    """The ARN a rule's target needs so that its events invoke the function: the function itself on AWS. The local
    cloud's EventBridge cannot target Lambda: there it is a new SQS queue, from which the local Lambda runner invokes
    the function for each event (emulated)."""
    if not cloud.settings().is_local:
        return function_arn
    sqs, function = cloud.client("sqs"), function_arn.rsplit(":", 1)[-1]
    url = sqs.create_queue(QueueName=f"{rule}-to-{function}"[:80], tags=tags(notebook))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    _runner("POST", {"QueueUrl": url, "FunctionName": function, "Region": cloud.settings().region})
    return queue_arn


def invoke(function: str, event: dict):
    """Invoke the function once with `event` (RequestResponse) and return its result; the same Invoke call on both
    targets (on the local cloud the gateway's Lambda runner serves it, emulated). A function error raises, with Lambda's
    errorType and errorMessage."""
    response = cloud.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        raise WorkbookError(f"Lambda function {function} failed: {payload.get('errorType')}: {payload.get('errorMessage')} "
                            f"(its log: lambdas.log_lines({function!r})).")
    return payload


def _runner(method: str, body: dict | None = None, query: str = "", path: str = "subscriptions") -> dict:
    request = urllib.request.Request(f"{localcloud.endpoint()}/_workbook/lambda/{path}{query}", method=method,
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=330) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        raise WorkbookError(f"The local Lambda runner refused {method} {path}: {json.load(exc).get('message', exc.reason)}") from None


def log_lines(function: str, since_ms: int = 0) -> list[str]:
    """What the function logged, oldest first (CloudWatch Logs /aws/lambda/<function>, on either target)."""
    logs = cloud.client("logs")
    try:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/lambda/{function}", startTime=since_ms)
        events = [e for page in pages for e in page["events"]]
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return []
        raise
    return [e["message"].rstrip() for e in sorted(events, key=lambda e: e["timestamp"])]  # stable: keeps stream order


def invocations(function: str) -> pd.DataFrame:
    """One row per invocation, from the function's REPORT lines in its log group."""
    reports = [line for line in log_lines(function) if line.startswith("REPORT RequestId:")]
    return pd.DataFrame({"report": reports})


def delete(function: str) -> bool:
    """Delete the function and its log group. False if it did not exist."""
    if cloud.settings().is_local:
        for sub in _runner("GET")["subscriptions"]:
            if sub["function"] == function:
                _runner("DELETE", query=f"?QueueUrl={urllib.parse.quote(sub['QueueUrl'])}")
    try:
        cloud.client("lambda").delete_function(FunctionName=function)
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return False
    try:
        cloud.client("logs").delete_log_group(logGroupName=f"/aws/lambda/{function}")
    except botocore.exceptions.ClientError:
        pass
    return True


def wait_for_invocations(function: str, count: int, timeout: float = 60) -> float:
    from helpers.procs import wait_until

    started = time.monotonic()
    wait_until(lambda: len(invocations(function)) >= count, timeout, f"{count} invocations of {function}", interval=0.5)
    return time.monotonic() - started
