"""Runs the local cloud's Python Lambda functions as local processes: Lambda's Invoke API, and events from SQS queues.

moto stores Lambda functions but runs them only in Docker, and its EventBridge cannot target Lambda. This runner
fills both gaps (emulated):

- **Invoke** (`POST /2015-03-31/functions/{name}/invocations`, signing name `lambda`; the gateway sends only this
  path here, every other Lambda call to moto): `RequestResponse` answers 200 with the handler's result, or
  `X-Amz-Function-Error: Unhandled` and Lambda's error object; `LogType=Tail` adds `X-Amz-Log-Result`, the base64
  of the log's last 4 KB; `Event` answers 202 and runs in the background under the async rules below; `DryRun`
  answers 204. A missing function is Lambda's ResourceNotFoundException; a runtime other than python3.x is refused.
- **Events from a queue**: on the local target a rule meant for a function targets an SQS queue, and the function
  is subscribed to it here (`POST /_workbook/lambda/subscriptions`). Each message is one asynchronous invocation.
- **Async rules**, as Lambda's: a failed attempt (error or timeout) is retried `MaximumRetryAttempts` times (2
  unless PutFunctionEventInvokeConfig says otherwise); then the event goes to the config's OnFailure destination
  (SQS, SNS or EventBridge bus ARN) or is dropped; a success goes to the OnSuccess destination if any. Lambda
  waits about 1 then 2 minutes between attempts; here the waits are `retry_delays_seconds` (1 and 2 s by default,
  set with `POST /_workbook/lambda/config`). Invocations of one function run one at a time, in arrival order.

Each invocation runs the function's code, as deployed (zip from ZipFile or S3), in a fresh Python process with the
function's environment variables, handler and timeout, and the local cloud as its AWS. Its output goes to
CloudWatch Logs group /aws/lambda/<name> with START/END/REPORT lines, as on Lambda.
`POST /_workbook/lambda/invoke` (FunctionName, Event, Region) invokes once and answers the invocation's record.
"""

from __future__ import annotations

import base64
import heapq
import io
import itertools
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from werkzeug.wrappers import Request, Response

from helpers.localcloud.emulators import local_aws

BOOTSTRAP = (Path(__file__).with_name("lambda_bootstrap.py")).read_text()
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_REGION = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/")
TAIL_BYTES = 4096
DEFAULT_RETRY_ATTEMPTS = 2  # Lambda's MaximumRetryAttempts default for asynchronous invocation


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


@dataclass
class Invocation:
    """What one run of a function produced."""

    request_id: str
    version: str
    payload: bytes
    error: dict | None
    log: list[str]
    seconds: float


@dataclass(order=True)
class _AsyncEvent:
    due: float
    seq: int
    function: str = field(compare=False)
    region: str = field(compare=False)
    event: object = field(compare=False)
    request_id: str = field(compare=False)
    attempt: int = field(default=1, compare=False)


class LambdaRunner:
    def __init__(self, endpoint: str, work_dir: Path):
        self.endpoint = endpoint
        self.work_dir = work_dir
        self.subscriptions: dict[str, dict] = {}
        self.invocations: list[dict] = []
        self.settings = {"retry_delays_seconds": [1.0, 2.0]}
        self.lock = threading.Lock()
        self.pending: dict[tuple[str, str], list[_AsyncEvent]] = {}  # per (region, function): due events, a heap
        self.wakeup = threading.Condition(self.lock)
        self.seq = itertools.count()
        threading.Thread(target=self._poll, name="lambda-runner", daemon=True).start()

    def client(self, service: str, region: str):
        return local_aws.client(self.endpoint, service, region)

    # ---- HTTP ----
    def serves(self, path: str) -> bool:
        """The gateway asks this for requests signed for `lambda`: only Invoke is ours, the rest of Lambda is moto's."""
        return bool(INVOKE_PATH.match(path))

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            if match := INVOKE_PATH.match(request.path):
                response = self._invoke_api(request, match.group("name"))
            else:
                response = self._json(200, self._workbook_api(request))
        except Exception as exc:  # never a traceback page: a JSON error with the reason
            err = exc if isinstance(exc, ApiError) else ApiError(500, "ServiceException", f"{type(exc).__name__}: {exc}")
            if request.path.startswith("/_workbook/"):
                response = self._json(err.status, {"message": str(err)})
            else:  # Lambda's error shape
                kind = "User" if err.status < 500 else "Service"
                response = self._json(err.status, {"Type": kind, "Message": str(err)}, {"x-amzn-ErrorType": err.code})
        return response(environ, start_response)

    @staticmethod
    def _json(status: int, body, headers: dict | None = None) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})

    def _workbook_api(self, request: Request) -> dict:
        body = request.get_json(silent=True, force=True)
        if request.method == "POST" and not isinstance(body, dict):
            raise ApiError(400, "BadRequest", f"POST {request.path} needs a JSON object body.")
        body = body or {}
        region = body.get("Region", "us-east-1")
        action = request.path.removeprefix("/_workbook/lambda/").strip("/")
        if action == "config":
            if request.method == "POST" and "retry_delays_seconds" in body:
                delays = body["retry_delays_seconds"]
                if not isinstance(delays, list) or not all(isinstance(d, (int, float)) and d >= 0 for d in delays) or not delays:
                    raise ApiError(400, "BadRequest", "retry_delays_seconds must be a non-empty list of seconds, e.g. [1, 2].")
                self.settings["retry_delays_seconds"] = [float(d) for d in delays]
            return self.settings
        if action == "invoke":
            name = _required(body, "FunctionName", request.path)
            return self._record(self.run(self._function(name, region), region, json.dumps(body.get("Event") or {}).encode()), name)
        if action != "subscriptions":
            raise ApiError(404, "NotFound", f"No such runner endpoint {request.path}: use /_workbook/lambda/subscriptions, "
                                            "/invoke or /config.")
        with self.lock:
            if request.method == "POST":
                queue, name = _required(body, "QueueUrl", request.path), _required(body, "FunctionName", request.path)
                self._function(name, region)  # an unknown function is refused now, not at the first event
                self.subscriptions[queue] = {"function": name, "region": region}
            elif request.method == "DELETE":
                self.subscriptions.pop(request.args.get("QueueUrl", ""), None)
            return {"subscriptions": [{"QueueUrl": q, **s} for q, s in self.subscriptions.items()],
                    "invocations": self.invocations[-50:]}

    def _invoke_api(self, request: Request, name: str) -> Response:
        region = (_REGION.search(request.headers.get("Authorization", "")) or [None, "us-east-1"])[1]
        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind not in ("RequestResponse", "Event", "DryRun"):
            raise ApiError(400, "ValidationException", f"1 validation error detected: Value '{kind}' at 'invocationType' failed "
                                                       "to satisfy constraint: Member must satisfy enum value set: "
                                                       "[Event, RequestResponse, DryRun]")
        fn = self._function(name, region, request.args.get("Qualifier"))
        payload = request.get_data() or b"{}"
        try:
            json.loads(payload)
        except ValueError as exc:
            raise ApiError(400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}") from None
        if kind == "DryRun":
            return Response(status=204)
        if kind == "Event":
            request_id = str(uuid.uuid4())
            self.submit(fn.function_name, region, json.loads(payload), request_id)
            return Response(status=202, headers={"x-amzn-RequestId": request_id})
        result = self.run(fn, region, payload)
        self._record(result, fn.function_name)
        headers = {"x-amzn-RequestId": result.request_id, "X-Amz-Executed-Version": result.version}
        if result.error is not None:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if request.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode("".join(f"{ln}\n" for ln in result.log).encode()[-TAIL_BYTES:]).decode()
        return Response(result.payload, status=200, content_type="application/json", headers=headers)

    # ---- functions ----
    def _function(self, name: str, region: str, qualifier: str | None = None):
        from moto.awslambda.exceptions import UnknownFunctionException
        from moto.awslambda.models import lambda_backends

        try:
            fn = lambda_backends[local_aws.ACCOUNT_ID][region].get_function(name, qualifier)
        except UnknownFunctionException as exc:
            raise ApiError(404, "ResourceNotFoundException", exc.message) from None
        if fn.package_type != "Zip" or not str(fn.run_time or "").startswith("python3"):
            raise ApiError(502, "InvalidRuntimeException", f"The local cloud runs python3.x zip functions only (emulated); "
                                                           f"{fn.function_name} is {fn.run_time or fn.package_type}: invoke it on AWS.")
        return fn

    def _code_dir(self, fn) -> Path:
        folder = self.work_dir / f"{fn.function_name}-{fn.code_sha_256[:12].replace('/', '_')}"
        if not folder.exists():
            with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as archive:
                tmp = Path(tempfile.mkdtemp(dir=self.work_dir))
                archive.extractall(tmp)
                tmp.rename(folder)
        return folder

    def run(self, fn, region: str, payload: bytes, request_id: str | None = None) -> Invocation:
        """Run the function once on `payload` (JSON bytes), log it to /aws/lambda/<name>, and return what it produced."""
        request_id = request_id or str(uuid.uuid4())
        version, name, timeout = str(fn.version), fn.function_name, int(fn.timeout or 3)
        stream = f"{time.strftime('%Y/%m/%d')}/[{version}]{request_id.replace('-', '')}"
        code = self._code_dir(fn)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": ":UTC", "PYTHONPATH": str(code),
               "PYTHONUNBUFFERED": "1",  # what a function printed before a timeout kills it is in its log, as on Lambda
               "LAMBDA_TASK_ROOT": str(code), "_HANDLER": fn.handler or "", "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
               "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": region, "AWS_REGION": region, "AWS_LAMBDA_FUNCTION_NAME": name,
               "AWS_LAMBDA_FUNCTION_VERSION": version, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
               "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}", "AWS_LAMBDA_LOG_STREAM_NAME": stream,
               **(fn.environment_vars or {})}
        meta = {"request_id": request_id, "handler": fn.handler or "", "function_name": name, "function_version": version,
                "invoked_function_arn": fn.function_arn, "memory_limit_in_mb": str(fn.memory_size),
                "log_group_name": f"/aws/lambda/{name}", "log_stream_name": stream, "deadline_ms": (time.time() + timeout) * 1000}
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=self.work_dir) as tmp:
            answer_file = Path(tmp) / "answer.json"
            try:
                done = subprocess.run([sys.executable, "-c", BOOTSTRAP, json.dumps(meta), str(answer_file)], input=payload, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, cwd=code)
                output, timed_out, exit_code = done.stdout, False, done.returncode
            except subprocess.TimeoutExpired as exc:
                output, timed_out, exit_code = exc.stdout or b"", True, None
            answer = json.loads(answer_file.read_text()) if answer_file.exists() else None
        seconds = time.monotonic() - started
        lines = output.decode(errors="replace").splitlines()
        if timed_out:
            message = f"Task timed out after {timeout:.2f} seconds"
            lines.append(f"{_now()} {request_id} {message}")
            error = {"errorType": "Sandbox.Timedout", "errorMessage": f"RequestId: {request_id} Error: {message}"}
        elif answer is None:  # the process ended without answering: sys.exit, a crash, a kill
            error = {"errorType": "Runtime.ExitError",
                     "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {exit_code}"}
        else:
            error = answer.get("error")
        report = f"REPORT RequestId: {request_id}\tDuration: {seconds * 1000:.2f} ms\tBilled Duration: {math.ceil(seconds * 1000)} ms" \
                 f"\tMemory Size: {fn.memory_size} MB" + ("\tStatus: timeout" if timed_out else "")
        log = [f"START RequestId: {request_id} Version: {version}", *lines, f"END RequestId: {request_id}", report]
        local_aws.write_log(self.endpoint, region, f"/aws/lambda/{name}", stream, log)
        body = json.dumps(error).encode() if error is not None else answer["payload"].encode()
        return Invocation(request_id, version, body, error, log, seconds)

    def _record(self, result: Invocation, name: str, **extra) -> dict:
        record = {"function": name, "request_id": result.request_id, "status": "error" if result.error else "ok",
                  "seconds": round(result.seconds, 2), "result": None if result.error else json.loads(result.payload),
                  "error": result.error, **extra}
        with self.lock:
            self.invocations.append(record)
        return record

    # ---- asynchronous invocation ----
    def submit(self, function: str, region: str, event, request_id: str | None = None, attempt: int = 1, delay: float = 0.0) -> None:
        """Queue an asynchronous invocation; each function's queue has one worker, so its events run in arrival order."""
        key = (region, function)
        item = _AsyncEvent(time.monotonic() + delay, next(self.seq), function, region, event, request_id or str(uuid.uuid4()), attempt)
        with self.wakeup:
            if key not in self.pending:
                self.pending[key] = []
                threading.Thread(target=self._work, args=(key,), name=f"lambda-async-{function}", daemon=True).start()
            heapq.heappush(self.pending[key], item)
            self.wakeup.notify_all()

    def _work(self, key: tuple[str, str]) -> None:
        while True:
            with self.wakeup:
                queue = self.pending[key]
                while not queue or queue[0].due > time.monotonic():
                    self.wakeup.wait(timeout=queue[0].due - time.monotonic() if queue else None)
                item = heapq.heappop(queue)
            try:
                self._attempt(item)
            except Exception as exc:  # a deleted function or destination must not stop the worker
                with self.lock:
                    self.invocations.append({"function": item.function, "request_id": item.request_id, "status": "error",
                                             "error": str(exc)[:300]})

    def _attempt(self, item: _AsyncEvent) -> None:
        fn = self._function(item.function, item.region)
        config = fn.event_invoke_config[0].config if fn.event_invoke_config else {}
        retries = int(config.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS))
        result = self.run(fn, item.region, json.dumps(item.event).encode(), item.request_id)
        extra = {"attempt": item.attempt, "status_in_event": ((item.event.get("detail") or {}).get("status")
                                                              if isinstance(item.event, dict) else None)}
        if result.error is not None and item.attempt <= retries:
            delays = self.settings["retry_delays_seconds"]
            self._record(result, item.function, **extra, next="retry")
            self.submit(item.function, item.region, item.event, item.request_id, item.attempt + 1,
                        delays[min(item.attempt, len(delays)) - 1])
            return
        outcome = "OnFailure" if result.error is not None else "OnSuccess"
        destination = ((config.get("DestinationConfig") or {}).get(outcome) or {}).get("Destination")
        self._record(result, item.function, **extra, next=f"{outcome}: {destination}" if destination else
                     ("dropped" if result.error is not None else "done"))
        if destination:
            self._deliver(destination, _invocation_record(fn, item, result))

    def _deliver(self, arn: str, record: dict) -> None:
        """Send an invocation record to a destination, as Lambda does for asynchronous invocations."""
        parts = arn.split(":")
        service, region = parts[2], parts[3]
        body = json.dumps(record)
        if service == "sqs":
            sqs = self.client("sqs", region)
            url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
        elif service == "sns":
            self.client("sns", region).publish(TopicArn=arn, Message=body)
        elif service == "events":
            outcome = "Success" if record["requestContext"]["condition"] == "Success" else "Failure"
            self.client("events", region).put_events(Entries=[{
                "Source": "lambda", "DetailType": f"Lambda Function Invocation Result - {outcome}", "Detail": body,
                "EventBusName": arn, "Resources": [record["requestContext"]["functionArn"]]}])
        else:
            raise ApiError(400, "InvalidParameterValueException", f"Destination {arn} is not emulated locally: use an SQS queue, "
                                                                  "SNS topic or EventBridge bus.")

    def _poll(self) -> None:
        while True:
            with self.lock:
                subscriptions = dict(self.subscriptions)
            for queue_url, sub in subscriptions.items():
                try:
                    sqs = self.client("sqs", sub["region"])
                    for msg in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
                        # Handed over like an event Lambda accepted: from here on the async rules decide retries.
                        self.submit(sub["function"], sub["region"], json.loads(msg["Body"]))
                        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
                except Exception as exc:  # a deleted queue must not stop the runner
                    with self.lock:
                        self.invocations.append({"function": sub["function"], "status": "error", "error": str(exc)[:300]})
            time.sleep(0.5)


def _required(body: dict, key: str, path: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "BadRequest", f"POST {path} needs {key} (a string) in its JSON body.")
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _invocation_record(fn, item: _AsyncEvent, result: Invocation) -> dict:
    """Lambda's invocation record, the body a destination receives."""
    response = {"statusCode": 200, "executedVersion": result.version}
    if result.error is not None:
        response["functionError"] = "Unhandled"
    return {"version": "1.0", "timestamp": _now(),
            "requestContext": {"requestId": item.request_id, "functionArn": f"{fn.function_arn}:{result.version}",
                               "condition": "RetriesExhausted" if result.error is not None else "Success",
                               "approximateInvokeCount": item.attempt},
            "requestPayload": item.event, "responseContext": response,
            "responsePayload": json.loads(result.payload)}
