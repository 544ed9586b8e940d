"""HTTP to the MWAA backend: the REST paths of the boto3 `mwaa` service model, the unsigned CLI endpoint, and
the workbook's settings route. Requests go to the backend of their account and region (SigV4 credential scope)."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import time

from werkzeug.wrappers import Request, Response

from helpers.localcloud.emulators import local_aws
from helpers.localcloud.emulators.mwaa.backend import BackendDict, MwaaBackend
from helpers.localcloud.emulators.mwaa.model import ApiError, invalid

CLI_COMMANDS = {"dags", "tasks", "variables", "pools", "version", "config", "providers", "cheat-sheet", "info"}


class MwaaResponses:
    def __init__(self, backends: BackendDict):
        self.backends = backends
        self.shared = backends.shared

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            status, body = self.route(request)
            response = Response(json.dumps(body, default=str), status=status, content_type="application/json")
        except ApiError as err:
            key = "Message" if err.code == "AccessDeniedException" else "message"
            response = Response(json.dumps({key: str(err), **err.members}), status=err.status,
                                content_type="application/json", headers={"x-amzn-ErrorType": err.code})
        except Exception as exc:  # never a traceback page: an InternalServerException with the reason
            response = Response(json.dumps({"message": f"{type(exc).__name__}: {exc}"}), status=500,
                                content_type="application/json", headers={"x-amzn-ErrorType": "InternalServerException"})
        return response(environ, start_response)

    def backend(self, request: Request) -> MwaaBackend:
        return self.backends[(local_aws.ACCOUNT_ID, region_of(request))]

    def route(self, request: Request) -> tuple[int, object]:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        body = request.get_json(silent=True, force=True) or {}
        if request.path == "/aws_mwaa/cli":
            return self.run_cli(request)
        if request.path == "/_workbook/mwaa/config":
            if method == "POST":
                self.shared.settings.update({k: float(v) for k, v in body.items() if k in self.shared.settings})
            return 200, self.shared.settings
        backend = self.backend(request)
        if parts == ["environments"] and method == "GET":
            return 200, backend.list_environments(request.args.get("NextToken"), request.args.get("MaxResults"))
        if len(parts) == 2 and parts[0] == "environments":
            name = parts[1]
            if method == "PUT":
                return 200, backend.create(name, body)
            if method == "GET":
                env = backend.get(name)
                with backend.lock:
                    return 200, {"Environment": env.to_api()}
            if method == "PATCH":
                return 200, backend.update(name, body)
            if method == "DELETE":
                return 200, backend.delete(name)
        if len(parts) == 2 and parts[0] == "clitoken" and method == "POST":
            return 200, backend.cli_token(parts[1])
        if len(parts) == 2 and parts[0] == "webtoken" and method == "POST":
            return 200, backend.web_token(parts[1])
        if len(parts) == 2 and parts[0] == "restapi" and method == "POST":
            return 200, backend.invoke_rest_api(parts[1], body)
        if parts and parts[0] == "tags":
            return 200, self.tags(request.path[len("/tags/"):], method, body, request.args)
        if len(parts) == 3 and parts[:2] == ["metrics", "environments"] and method == "POST":
            backend.get(parts[2])
            return 200, {}
        raise ApiError("ValidationException", f"Unsupported operation {method} {request.path}", 400)

    def tags(self, arn: str, method: str, body: dict, args) -> dict:
        # arn:aws:airflow:<region>:<account>:environment/<name>: the ARN says which backend, as in moto.
        fields = arn.split(":", 5)
        if len(fields) != 6 or not fields[5].startswith("environment/"):
            raise invalid(f"Invalid ResourceArn {arn!r}: expected arn:aws:airflow:<region>:<account>:environment/<name>.")
        backend, name = self.backends[(fields[4], fields[3])], fields[5].split("/", 1)[1]
        if method == "GET":
            return backend.list_tags(name)
        if method == "POST":
            return backend.tag(name, body.get("Tags") or {})
        if method == "DELETE":
            return backend.untag(name, args.getlist("tagKeys"))
        raise invalid(f"Unsupported tags operation {method}.")

    def run_cli(self, request: Request) -> tuple[int, dict]:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        with self.shared.lock:
            env, expires = self.shared.cli_tokens.get(token, (None, 0.0))
            runtime = env.runtime if env is not None else None
        if env is None or expires < time.monotonic():
            raise ApiError("AccessDeniedException", "Invalid or expired CLI token: call CreateCliToken again.", 403)
        args = shlex.split(request.get_data(as_text=True))
        if runtime is None or not args or args[0] not in CLI_COMMANDS:
            raise invalid(f"Unsupported Airflow CLI command {args[:1]}; allowed: {', '.join(sorted(CLI_COMMANDS))}.")
        done = subprocess.run([str(runtime.python), "-m", "airflow", *args], env=runtime.env, capture_output=True,
                              timeout=120, cwd=runtime.home)
        return 200, {"stdout": base64.b64encode(done.stdout).decode(), "stderr": base64.b64encode(done.stderr).decode()}


def region_of(request: Request) -> str:
    auth = request.headers.get("Authorization", "")
    try:
        return auth.split("Credential=", 1)[1].split("/")[2]
    except IndexError:
        return "us-east-1"
