"""Runs the local cloud's Lambda functions as local processes, for events delivered to SQS queues.

moto stores Lambda functions but cannot run them without Docker, and its EventBridge cannot target
Lambda (put_events fails). So on the local target a rule targets an SQS queue, and the function is
subscribed to that queue here (`POST /_workbook/lambda/subscriptions`); `POST /_workbook/lambda/invoke`
invokes a function once, synchronously (Lambda's RequestResponse invocation). Each message is one invocation:
the function's code, as deployed to the local cloud, runs in a fresh Python process with the function's
environment variables, its handler and timeout, and the local cloud as its AWS. What it prints and logs goes
to CloudWatch Logs group /aws/lambda/<name>, with START/END/REPORT lines, as on Lambda.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

from werkzeug.wrappers import Request, Response

from helpers.localcloud.emulators import local_aws

RESULT = "__WORKBOOK_LAMBDA_RESULT__"
BOOTSTRAP = f"""
import importlib, json, logging, sys
logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s", stream=sys.stdout, force=True)
module, name = sys.argv[1].rsplit(".", 1)
result = getattr(importlib.import_module(module), name)(json.load(sys.stdin), None)
print({RESULT!r} + json.dumps(result), flush=True)
"""


class LambdaRunner:
    def __init__(self, endpoint: str, work_dir: Path):
        self.endpoint = endpoint
        self.work_dir = work_dir
        self.subscriptions: dict[str, dict] = {}
        self.invocations: list[dict] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._poll, name="lambda-runner", daemon=True).start()

    def client(self, service: str, region: str):
        return local_aws.client(self.endpoint, service, region)

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_json(silent=True, force=True) or {}
        if request.path.endswith("/invoke"):
            record = self.invoke(body["FunctionName"], body.get("Region", "us-east-1"), body.get("Event") or {})
            return Response(json.dumps(record), content_type="application/json")(environ, start_response)
        with self.lock:
            if request.method == "POST":
                self.subscriptions[body["QueueUrl"]] = {"function": body["FunctionName"], "region": body.get("Region", "us-east-1")}
            elif request.method == "DELETE":
                self.subscriptions.pop(request.args.get("QueueUrl", ""), None)
            answer = {"subscriptions": [{"QueueUrl": q, **s} for q, s in self.subscriptions.items()],
                      "invocations": self.invocations[-50:]}
        return Response(json.dumps(answer), content_type="application/json")(environ, start_response)

    def _poll(self) -> None:
        while True:
            with self.lock:
                subscriptions = dict(self.subscriptions)
            for queue_url, sub in subscriptions.items():
                try:
                    sqs = self.client("sqs", sub["region"])
                    for msg in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
                        self.invoke(sub["function"], sub["region"], json.loads(msg["Body"]))
                        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
                except Exception as exc:  # a deleted queue or function must not stop the runner
                    with self.lock:
                        self.invocations.append({"function": sub["function"], "status": "error", "error": str(exc)[:300]})
            time.sleep(0.5)

    def _code_dir(self, fn) -> Path:
        folder = self.work_dir / f"{fn.function_name}-{fn.code_sha_256[:12].replace('/', '_')}"
        if not folder.exists():
            with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as archive:
                tmp = Path(tempfile.mkdtemp(dir=self.work_dir))
                archive.extractall(tmp)
                tmp.rename(folder)
        return folder

    def invoke(self, name: str, region: str, event: dict) -> dict:
        from moto.awslambda.models import lambda_backends

        fn = lambda_backends[local_aws.ACCOUNT_ID][region].get_function(name)
        request_id = str(uuid.uuid4())
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONPATH": str(self._code_dir(fn)),
               "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": region, "AWS_REGION": region, "AWS_LAMBDA_FUNCTION_NAME": name,
               **(fn.environment_vars or {})}
        started = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-c", BOOTSTRAP, fn.handler], input=json.dumps(event), env=env,
                                  capture_output=True, text=True, timeout=int(fn.timeout or 3), cwd=env["PYTHONPATH"])
            output, code = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired as exc:
            output, code = f"{exc.stdout or ''}Task timed out after {fn.timeout} seconds", -1
        seconds = time.monotonic() - started
        result_lines = [ln for ln in output.splitlines() if ln.startswith(RESULT)]
        lines = [ln for ln in output.splitlines() if not ln.startswith(RESULT)]
        record = {"function": name, "request_id": request_id, "status": "ok" if code == 0 else "error",
                  "seconds": round(seconds, 2), "result": json.loads(result_lines[-1][len(RESULT):]) if result_lines else None,
                  "status_in_event": (event.get("detail") or {}).get("status")}
        self._log(name, region, request_id, lines, seconds)
        with self.lock:
            self.invocations.append(record)
        return record

    def _log(self, name: str, region: str, request_id: str, lines: list[str], seconds: float) -> None:
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{request_id.replace('-', '')}"
        messages = [f"START RequestId: {request_id} Version: $LATEST", *lines, f"END RequestId: {request_id}",
                    f"REPORT RequestId: {request_id}\tDuration: {seconds * 1000:.2f} ms"]
        local_aws.write_log(self.endpoint, region, f"/aws/lambda/{name}", stream, messages)
