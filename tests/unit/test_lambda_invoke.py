"""Lambda on the local cloud: Invoke through the stock boto3 client, Lambda's async rules, the runner's own endpoint,
and (slow, last) a DAG on the local MWAA that creates, invokes and deletes a function."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.error
import urllib.request
import zipfile

import botocore.exceptions
import pytest

from helpers import localcloud
from helpers.aws import cloud, iam, lambdas
from helpers.errors import WorkbookError
from helpers.procs import wait_until

NB = ROLE = "tests-lambda-invoke"
SOURCE = '''import os, time

def echo(event, context):
    print("event", event)
    return {"event": event, "greeting": os.environ.get("GREETING"), "request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis()}

def boom(event, context):
    raise ValueError("boom " + str(event.get("n")))

def chatty(event, context):
    for i in range(300):
        print(f"line {i:03d} " + "x" * 40)
    raise RuntimeError("after chatter")

def slow(event, context):
    print("about to sleep")
    time.sleep(10)
'''


def _zip(source: str = SOURCE) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", source)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def lam(module_cloud):
    """The module's local cloud, with the functions' execution role and short async retry delays."""
    iam.create_role(ROLE, NB, lambdas.LAMBDA_TRUST, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]}, "test")
    assert _runner("POST", "config", {"retry_delays_seconds": [0.3, 0.6]})[1]["retry_delays_seconds"] == [0.3, 0.6]
    return cloud.client("lambda")


def _create(lam, name: str, handler: str, timeout: int = 10, **extra) -> str:
    code = extra.pop("Code", {"ZipFile": _zip()})
    role = cloud.client("iam").get_role(RoleName=ROLE)["Role"]["Arn"]
    handler = handler if "." in handler else f"lambda_function.{handler}"
    return lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler=handler, Code=code, Timeout=timeout,
                               **extra)["FunctionArn"]


def _runner(method: str, path: str, body=None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"{localcloud.endpoint()}/_workbook/lambda/{path}", method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        assert exc.headers["Content-Type"] == "application/json"
        return exc.code, json.load(exc)


def _queue(name: str) -> tuple[str, str]:
    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _receive(url: str, timeout: float = 20) -> dict:
    sqs, got = cloud.client("sqs"), []

    def arrived() -> bool:
        got.extend(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", []))
        return bool(got)

    wait_until(arrived, timeout, f"a message in {url}")
    return json.loads(got[0]["Body"])


def _starts(name: str) -> list[str]:
    return [ln for ln in lambdas.log_lines(name) if ln.startswith("START RequestId: ")]


# --- Invoke: RequestResponse, Event, DryRun -------------------------------------------------------------------------

def test_request_response_returns_the_result_with_the_functions_environment(lam):
    _create(lam, "t-echo", "echo", Environment={"Variables": {"GREETING": "hello"}})
    response = lam.invoke(FunctionName="t-echo", Payload=json.dumps({"n": 1}).encode())
    result = json.loads(response["Payload"].read())
    assert response["StatusCode"] == 200 and "FunctionError" not in response and "LogResult" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert result["event"] == {"n": 1} and result["greeting"] == "hello"
    assert result["request_id"] == response["ResponseMetadata"]["RequestId"]  # context.aws_request_id
    assert 0 < result["remaining_ms"] <= 10_000  # the function's Timeout, counting down
    lines = lambdas.log_lines("t-echo")
    assert lines[0] == f"START RequestId: {result['request_id']} Version: $LATEST" and "event {'n': 1}" in lines
    assert lines[-1].startswith(f"REPORT RequestId: {result['request_id']}\tDuration: ")


def test_a_raising_handler_is_an_unhandled_function_error_with_the_log_tail(lam):
    _create(lam, "t-boom", "boom")
    response = lam.invoke(FunctionName="t-boom", Payload=b'{"n": 7}', LogType="Tail")
    error = json.loads(response["Payload"].read())
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom 7")
    assert error["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert len(error["stackTrace"]) == 1 and 'raise ValueError("boom " + str(event.get("n")))' in error["stackTrace"][0]
    tail = base64.b64decode(response["LogResult"]).decode().splitlines()
    assert tail[0].startswith("START RequestId: ") and tail[-1].startswith("REPORT RequestId: ")
    assert "[ERROR] ValueError: boom 7" in tail and "Traceback (most recent call last):" in tail


def test_log_result_is_the_last_4_kb_of_the_log(lam):
    _create(lam, "t-chatty", "chatty")
    response = lam.invoke(FunctionName="t-chatty", LogType="Tail")
    tail = base64.b64decode(response["LogResult"])
    assert len(tail) == 4096  # the whole log is about 15 KB
    text = tail.decode()
    assert "line 299 " in text and "line 000 " not in text and text.rstrip().splitlines()[-1].startswith("REPORT RequestId: ")
    assert "[ERROR] RuntimeError: after chatter" in text


def test_event_answers_202_at_once_and_the_invocation_appears_in_the_log(lam):
    _create(lam, "t-event", "echo")
    response = lam.invoke(FunctionName="t-event", InvocationType="Event", Payload=b'{"n": 2}')
    assert response["StatusCode"] == 202 and response["Payload"].read() == b""
    wait_until(lambda: "event {'n': 2}" in lambdas.log_lines("t-event"), 20, "the Event invocation's log")
    request_id = response["ResponseMetadata"]["RequestId"]
    assert _starts("t-event") == [f"START RequestId: {request_id} Version: $LATEST"]


def test_dry_run_answers_204_and_runs_nothing(lam):
    _create(lam, "t-dry", "echo")
    response = lam.invoke(FunctionName="t-dry", InvocationType="DryRun")
    assert response["StatusCode"] == 204 and response["Payload"].read() == b""
    time.sleep(0.5)
    assert lambdas.log_lines("t-dry") == []


def test_a_timeout_is_a_function_error_and_the_log_keeps_what_was_printed(lam):
    _create(lam, "t-slow", "slow", timeout=1)
    started = time.monotonic()
    response = lam.invoke(FunctionName="t-slow")
    assert time.monotonic() - started < 5
    error = json.loads(response["Payload"].read())
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorType": "Sandbox.Timedout", "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds"}
    lines = lambdas.log_lines("t-slow")
    assert "about to sleep" in lines  # decoded text, not b'...'
    assert lines[-3].endswith(f"Z {request_id} Task timed out after 1.00 seconds") and lines[-1].endswith("\tStatus: timeout")


def test_a_missing_function_is_resource_not_found_as_lambda_answers(lam):
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        lam.invoke(FunctionName="t-nope")
    assert caught.value.response["Error"] == {
        "Code": "ResourceNotFoundException", "Message": "Function not found: arn:aws:lambda:us-east-1:123456789012:function:t-nope"}
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_code_from_s3_and_lambda_error_types_for_bad_handlers(lam):
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="tests-lambda-code")
    s3.put_object(Bucket="tests-lambda-code", Key="fn.zip", Body=_zip())
    _create(lam, "t-s3", "echo", Code={"S3Bucket": "tests-lambda-code", "S3Key": "fn.zip"})
    assert json.loads(lam.invoke(FunctionName="t-s3", Payload=b'{"n": 3}')["Payload"].read())["event"] == {"n": 3}
    assert lam.get_function(FunctionName="t-s3")["Configuration"]["State"] == "Active"  # everything else is moto's
    for name, handler, kind in (("t-nohandler", "missing", "Runtime.HandlerNotFound"),
                                ("t-badmodule", "nomodule.handler", "Runtime.ImportModuleError")):
        _create(lam, name, handler)
        response = lam.invoke(FunctionName=name)
        assert response["FunctionError"] == "Unhandled" and json.loads(response["Payload"].read())["errorType"] == kind


def test_lambdas_invoke_raises_a_function_error_in_one_line(lam):
    _create(lam, "t-helper-boom", "boom")
    with pytest.raises(WorkbookError, match=r"^Lambda function t-helper-boom failed: ValueError: boom 1 \(its log: "):
        lambdas.invoke("t-helper-boom", {"n": 1})


# --- async rules: retries, destinations -----------------------------------------------------------------------------

def test_a_failing_event_is_retried_twice_then_sent_to_the_on_failure_queue(lam):
    _create(lam, "t-async-fail", "boom")
    url, arn = _queue("t-async-failures")
    lam.put_function_event_invoke_config(FunctionName="t-async-fail", DestinationConfig={"OnFailure": {"Destination": arn}})
    request_id = lam.invoke(FunctionName="t-async-fail", InvocationType="Event", Payload=b'{"n": 4}')["ResponseMetadata"]["RequestId"]
    record = _receive(url)
    assert record["requestContext"] == {"requestId": request_id, "condition": "RetriesExhausted", "approximateInvokeCount": 3,
                                        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:t-async-fail:$LATEST"}
    assert record["requestPayload"] == {"n": 4} and record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "boom 4"
    assert _starts("t-async-fail") == [f"START RequestId: {request_id} Version: $LATEST"] * 3  # one request id, 3 attempts


def test_event_invoke_config_retry_attempts_and_success_and_eventbridge_destinations(lam):
    events, sns, sqs = cloud.client("events"), cloud.client("sns"), cloud.client("sqs")
    fail_url, fail_arn = _queue("t-bus-failures")
    bus = events.create_event_bus(Name="t-lambda-results")["EventBusArn"]
    events.put_rule(Name="t-lambda-failures", EventBusName="t-lambda-results",
                    EventPattern=json.dumps({"source": ["lambda"], "detail-type": ["Lambda Function Invocation Result - Failure"]}))
    events.put_targets(Rule="t-lambda-failures", EventBusName="t-lambda-results", Targets=[{"Id": "q", "Arn": fail_arn}])
    _create(lam, "t-async-once", "boom")
    lam.put_function_event_invoke_config(FunctionName="t-async-once", MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": bus}})
    lam.invoke(FunctionName="t-async-once", InvocationType="Event", Payload=b'{"n": 5}')
    failure = _receive(fail_url)
    assert failure["detail-type"] == "Lambda Function Invocation Result - Failure"
    assert failure["detail"]["requestContext"]["approximateInvokeCount"] == 1 and len(_starts("t-async-once")) == 1

    ok_url, ok_arn = _queue("t-topic-successes")
    topic = sns.create_topic(Name="t-lambda-successes")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=ok_arn, Attributes={"RawMessageDelivery": "true"})
    _create(lam, "t-async-ok", "echo")
    lam.put_function_event_invoke_config(FunctionName="t-async-ok", DestinationConfig={"OnSuccess": {"Destination": topic}})
    lam.invoke(FunctionName="t-async-ok", InvocationType="Event", Payload=b'{"n": 6}')
    success = _receive(ok_url)
    assert success["requestContext"]["condition"] == "Success" and success["responsePayload"]["event"] == {"n": 6}
    assert "functionError" not in success["responseContext"]
    sqs.purge_queue(QueueUrl=fail_url)


def test_events_from_a_routed_rule_follow_the_async_rules(lam):
    _create(lam, "t-rule-fail", "boom")
    url, arn = _queue("t-rule-failures")
    lam.put_function_event_invoke_config(FunctionName="t-rule-fail", DestinationConfig={"OnFailure": {"Destination": arn}})
    events = cloud.client("events")
    events.put_rule(Name="t-rule", EventPattern=json.dumps({"source": ["tests.lambda"]}))
    lambdas.route_rule("t-rule", "t-rule-fail", NB)
    events.put_events(Entries=[{"Source": "tests.lambda", "DetailType": "t", "Detail": json.dumps({"n": 8})}])
    record = _receive(url)
    assert record["requestContext"]["approximateInvokeCount"] == 3 and record["requestPayload"]["detail"] == {"n": 8}
    time.sleep(1.5)  # longer than both retry delays: nothing is redelivered
    assert len(_starts("t-rule-fail")) == 3


# --- the runner's own endpoint ------------------------------------------------------------------------------------------

def test_the_runner_endpoint_answers_bad_requests_with_one_json_line(lam):
    assert _runner("POST", "invoke", {"Event": {}}) == (
        400, {"message": "POST /_workbook/lambda/invoke needs FunctionName (a string) in its JSON body."})
    assert _runner("POST", "subscriptions", b"not json")[0] == 400
    assert _runner("POST", "config", {"retry_delays_seconds": "soon"})[0] == 400
    status, body = _runner("POST", "subscriptions", {"QueueUrl": "http://q", "FunctionName": "t-nope"})
    assert (status, body) == (404, {"message": "Function not found: arn:aws:lambda:us-east-1:123456789012:function:t-nope"})
    with pytest.raises(WorkbookError, match="^The local Lambda runner refused POST subscriptions: Function not found: "):
        lambdas._runner("POST", {"QueueUrl": "http://q", "FunctionName": "t-nope", "Region": "us-east-1"})
    _create(lam, "t-runner-echo", "echo")
    status, body = _runner("POST", "invoke", {"FunctionName": "t-runner-echo", "Event": {"n": 9}})
    assert status == 200 and body["status"] == "ok" and body["result"]["event"] == {"n": 9}


# --- acceptance: the DAG runs in real Airflow against the local cloud ---------------------------------------------
# `airflow dags test` (helpers.dagtools.airflow_local), not a local MWAA environment: starting one cost 30 s of two
# busy cores in `make test`, and the environment's own path (signed in as its execution role) has its own tests.

def test_a_dag_creates_invokes_and_deletes_a_python_function(lam):
    from helpers.dagtools import airflow_local

    role = cloud.client("iam").get_role(RoleName=ROLE)["Role"]["Arn"]  # the function's role must exist: moto checks it
    result = airflow_local.run_dag("lambda_invoke_function.py", conf={"role_arn": role, "function_name": "t-dag-function"})
    assert result.succeeded, {t: result.logs.get(t, "")[-800:] for t, st in zip(result.tasks.task, result.tasks.state,
                                                                             strict=True) if st != "success"}
    assert set(result.tasks.state) == {"success"} and len(result.tasks) == 4
    assert result.xcom("invoke_lambda_function")["greeting"] == "Hello from Lambda"
    assert "t-dag-function got {'run_id': '" in result.logs["invoke_lambda_function"]  # the LogType=Tail lines
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="t-dag-function")  # the teardown deleted it
