"""The local MWAA control plane: the `mwaa` API (as in the boto3 service model) over real Airflow 3 processes.

moto has no MWAA. This emulator serves the API on the local cloud's gateway (requests signed for
`airflow`), validates requests against the local cloud (IAM role, S3 bucket, EC2 subnets and security
groups), runs each environment as real Airflow processes (see `runtime`), mirrors its DAGs from S3
(see `dagsync`), and emits MWAA status-change events to the local cloud's default EventBridge bus.

Emulated, not real: the environment runs on this machine with LocalExecutor (its CeleryExecutorQueue is
created in SQS but not used), all Airflow 3 versions run the installed Airflow, the VPC endpoint services
are names only, and the CLI endpoint (`/aws_mwaa/cli`) is served by the gateway.
"""

from __future__ import annotations

import base64
import json
import secrets
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import botocore.exceptions
from werkzeug.wrappers import Request, Response

from helpers.localcloud.emulators import local_aws
from helpers.localcloud.emulators.mwaa.dagsync import DagSync
from helpers.localcloud.emulators.mwaa.model import (
    AIRFLOW_VERSIONS,
    ApiError,
    Environment,
    bucket_name,
    invalid,
    not_found,
    now,
    role_name,
    service_name,
    validate_name,
    validate_shape,
    version_tuple,
    with_defaults,
)
from helpers.localcloud.emulators.mwaa.runtime import AirflowRuntime, fresh_home, template_db
from helpers.paths import cache_dir

CLI_COMMANDS = {"dags", "tasks", "variables", "pools", "version", "config", "providers", "cheat-sheet", "info"}
UPDATABLE = {"ExecutionRoleArn", "AirflowConfigurationOptions", "AirflowVersion", "DagS3Path", "EnvironmentClass",
             "LoggingConfiguration", "MaxWorkers", "MinWorkers", "MaxWebservers", "MinWebservers", "NetworkConfiguration",
             "PluginsS3Path", "PluginsS3ObjectVersion", "RequirementsS3Path", "RequirementsS3ObjectVersion", "Schedulers",
             "SourceBucketArn", "StartupScriptS3Path", "StartupScriptS3ObjectVersion", "WebserverAccessMode",
             "WeeklyMaintenanceWindowStart"}


class MwaaEmulator:
    def __init__(self, state_dir: str, endpoint: str):
        self.root = Path(state_dir) / "mwaa"
        self.endpoint = endpoint
        self.cache_dir = cache_dir()
        self.envs: dict[str, Environment] = {}
        self.runtimes: dict[str, AirflowRuntime] = {}
        self.syncs: dict[str, DagSync] = {}
        self.cli_tokens: dict[str, tuple[str, float]] = {}
        self.settings = {"pending_timeout_seconds": 72 * 3600.0, "start_timeout_seconds": 120.0}
        self.lock = threading.RLock()
        # Migrate the template DB now, in the background, so the first environment starts in seconds.
        threading.Thread(target=self._warm_template, daemon=True).start()

    def _warm_template(self) -> None:
        try:
            template_db(self.cache_dir)
        except Exception:  # reported when an environment is created
            pass

    # ---- AWS clients against the local cloud itself ----
    def client(self, service: str, region: str):
        return local_aws.client(self.endpoint, service, region)

    def aws_env(self, region: str) -> dict[str, str]:
        """What tasks in the environment see: the local cloud as their AWS, like an execution role on MWAA."""
        conn = {"conn_type": "aws", "login": "testing", "password": "testing",
                "extra": {"region_name": region, "endpoint_url": self.endpoint}}
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": region, "AWS_REGION": region, "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(conn)}

    # ---- WSGI ----
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

    def route(self, request: Request) -> tuple[int, object]:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        body = request.get_json(silent=True, force=True) or {}
        region = _region(request)
        if request.path == "/aws_mwaa/cli":
            return self.run_cli(request)
        if request.path == "/_workbook/mwaa/config":
            if method == "POST":
                self.settings.update({k: float(v) for k, v in body.items() if k in self.settings})
            return 200, self.settings
        if parts == ["environments"] and method == "GET":
            return 200, self.list_environments(request.args)
        if len(parts) == 2 and parts[0] == "environments":
            name = parts[1]
            if method == "PUT":
                return 200, self.create(name, body, region)
            if method == "GET":
                return 200, {"Environment": self.get(name).to_api()}
            if method == "PATCH":
                return 200, self.update(name, body)
            if method == "DELETE":
                return 200, self.delete(name)
        if len(parts) == 2 and parts[0] == "clitoken" and method == "POST":
            return 200, self.cli_token(parts[1])
        if len(parts) == 2 and parts[0] == "webtoken" and method == "POST":
            return 200, self.web_token(parts[1])
        if len(parts) == 2 and parts[0] == "restapi" and method == "POST":
            return 200, self.invoke_rest_api(parts[1], body)
        if parts and parts[0] == "tags":
            return 200, self.tags(request.path[len("/tags/"):], method, body, request.args)
        if len(parts) == 3 and parts[:2] == ["metrics", "environments"] and method == "POST":
            self.get(parts[2])
            return 200, {}
        raise ApiError("ValidationException", f"Unsupported operation {method} {request.path}", 400)

    # ---- operations ----
    def get(self, name: str) -> Environment:
        with self.lock:
            env = self.envs.get(name)
        if env is None:
            raise not_found(name)
        return env

    def list_environments(self, args) -> dict:
        names = sorted(self.envs)
        start = int(args.get("NextToken") or 0)
        size = int(args.get("MaxResults") or 25)
        page = {"Environments": names[start:start + size]}
        if start + size < len(names):
            page["NextToken"] = str(start + size)
        return page

    def create(self, name: str, request: dict, region: str) -> dict:
        validate_name(name)
        cfg = with_defaults(request)
        for required in ("ExecutionRoleArn", "SourceBucketArn", "DagS3Path", "NetworkConfiguration"):
            if not cfg.get(required):
                raise invalid(f"{required} is required.")
        validate_shape(cfg)
        with self.lock:
            if name in self.envs:
                raise invalid(f"Environment {name} already exists.")
        vpc_id = self.validate_resources(cfg, region)
        env = Environment(name=name, region=region, account=local_aws.ACCOUNT_ID, config=cfg, vpc_id=vpc_id,
                          tags=dict(request.get("Tags") or {}))
        env.database_service = service_name(region)
        if cfg["WebserverAccessMode"] == "PRIVATE_ONLY":
            env.webserver_service = service_name(region)
        sqs = self.client("sqs", region)
        env.queue_url = sqs.create_queue(QueueName=f"airflow-celery-{name}-{secrets.token_hex(4)}")["QueueUrl"]
        env.queue_arn = sqs.get_queue_attributes(QueueUrl=env.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        with self.lock:
            if name in self.envs:
                raise invalid(f"Environment {name} already exists.")
            self.envs[name] = env
        self.emit(env, None)
        threading.Thread(target=self._create, args=(env,), name=f"create-{name}", daemon=True).start()
        return {"Arn": env.arn}

    def validate_resources(self, cfg: dict, region: str) -> str:
        """Checks against the local cloud, like AWS checks against your account. Returns the VPC id."""
        iam, s3, ec2 = self.client("iam", region), self.client("s3", region), self.client("ec2", region)
        role = role_name(cfg["ExecutionRoleArn"])
        try:
            iam.get_role(RoleName=role)
        except botocore.exceptions.ClientError:
            raise invalid(f"ExecutionRoleArn {cfg['ExecutionRoleArn']} does not exist.") from None
        bucket = bucket_name(cfg["SourceBucketArn"])
        try:
            versioning = s3.get_bucket_versioning(Bucket=bucket)
        except botocore.exceptions.ClientError:
            raise invalid(f"SourceBucketArn {cfg['SourceBucketArn']} does not exist.") from None
        if versioning.get("Status") != "Enabled":
            raise invalid(f"Bucket {bucket} must have versioning enabled.")
        net = cfg["NetworkConfiguration"]
        subnet_ids, group_ids = net.get("SubnetIds") or [], net.get("SecurityGroupIds") or []
        if len(subnet_ids) != 2:
            raise invalid("NetworkConfiguration.SubnetIds must list exactly 2 private subnets in different Availability Zones.")
        if not 1 <= len(group_ids) <= 5:
            raise invalid("NetworkConfiguration.SecurityGroupIds must list 1 to 5 security groups.")
        try:
            subnets = ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]
        except botocore.exceptions.ClientError:
            raise invalid(f"Subnets {', '.join(subnet_ids)} do not all exist.") from None
        if len({s["AvailabilityZone"] for s in subnets}) != 2:
            raise invalid("The 2 subnets must be in different Availability Zones.")
        if len({s["VpcId"] for s in subnets}) != 1:
            raise invalid("The 2 subnets must be in the same VPC.")
        public = [s["SubnetId"] for s in subnets if s.get("MapPublicIpOnLaunch")]
        if public:
            raise invalid(f"Subnets must be private; {', '.join(public)} assigns public IP addresses.")
        vpc_id = subnets[0]["VpcId"]
        try:
            groups = ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
        except botocore.exceptions.ClientError:
            raise invalid(f"Security groups {', '.join(group_ids)} do not all exist.") from None
        if {g["VpcId"] for g in groups} != {vpc_id}:
            raise invalid("Security groups must be in the subnets' VPC.")
        return vpc_id

    def update(self, name: str, request: dict) -> dict:
        env = self.get(name)
        if env.status not in ("AVAILABLE", "UPDATE_FAILED"):
            raise invalid(f"Environment {name} is {env.status}; it can be updated only when AVAILABLE.")
        unknown = set(request) - UPDATABLE - {"Name", "WorkerReplacementStrategy"}
        if unknown:
            raise invalid(f"Cannot update {', '.join(sorted(unknown))}.")
        cfg = dict(env.config)
        new_version = request.get("AirflowVersion")
        if new_version and new_version != cfg["AirflowVersion"]:
            if new_version not in AIRFLOW_VERSIONS:
                raise invalid(f"Invalid AirflowVersion {new_version!r}. Valid values: {', '.join(AIRFLOW_VERSIONS)}.")
            old, new = version_tuple(cfg["AirflowVersion"]), version_tuple(new_version)
            if new < old:
                raise invalid(f"Airflow version can only be upgraded; {cfg['AirflowVersion']} to {new_version} is a downgrade.")
            if new[0] != old[0]:
                raise invalid(f"In-place upgrade from Airflow {old[0]} to {new[0]} is not supported; create a new environment.")
        if "NetworkConfiguration" in request:
            if set(request["NetworkConfiguration"]) - {"SecurityGroupIds"}:
                raise invalid("Only NetworkConfiguration.SecurityGroupIds can be updated.")
            request = {**request, "NetworkConfiguration": {**cfg["NetworkConfiguration"], **request["NetworkConfiguration"]}}
        for key, value in request.items():
            if key in UPDATABLE:
                cfg[key] = value
        cfg = with_defaults(cfg)
        validate_shape(cfg)
        self.validate_resources(cfg, env.region)
        previous = env.status
        env.config = cfg
        env.status = "UPDATING"
        env.last_update = {"Status": "PENDING", "CreatedAt": now().timestamp(), "Source": "UpdateEnvironment"}
        self.emit(env, previous)
        threading.Thread(target=self._update, args=(env,), name=f"update-{name}", daemon=True).start()
        return {"Arn": env.arn}

    def delete(self, name: str) -> dict:
        env = self.get(name)
        if env.status == "DELETING":
            raise invalid(f"Environment {name} is already being deleted.")
        previous, env.status = env.status, "DELETING"
        self.emit(env, previous)
        threading.Thread(target=self._delete, args=(env,), name=f"delete-{name}", daemon=True).start()
        return {}

    def cli_token(self, name: str) -> dict:
        env = self.available(name)
        token = secrets.token_urlsafe(24)
        self.cli_tokens[token] = (env.name, time.monotonic() + 60)  # MWAA's CLI tokens last 60 s
        return {"CliToken": token, "WebServerHostname": self.endpoint.split("://", 1)[1]}

    def web_token(self, name: str) -> dict:
        env = self.available(name)
        runtime = self.runtimes[env.name]
        return {"WebToken": runtime.token(), "WebServerHostname": env.webserver_url,
                "IamIdentity": f"arn:aws:iam::{local_aws.ACCOUNT_ID}:root", "AirflowIdentity": "admin"}

    def invoke_rest_api(self, name: str, body: dict) -> dict:
        env = self.available(name)
        path, method = body.get("Path", ""), body.get("Method", "")
        if not path.startswith("/"):
            raise invalid("Path must start with '/', e.g. '/dags'.")
        if method not in ("GET", "PUT", "POST", "PATCH", "DELETE"):
            raise invalid("Method must be one of GET, PUT, POST, PATCH, DELETE.")
        # Airflow 3 environments serve the stable REST API under /api/v2; MWAA maps Path onto it.
        status, response = self.runtimes[env.name].call(method, f"/api/v2{path}", body.get("QueryParameters"),
                                                         body.get("Body"))
        if not isinstance(response, dict):
            response = {"items": response}
        if status >= 500:
            raise ApiError("RestApiServerException", "The Airflow REST API returned a server error.", 400,
                           RestApiStatusCode=status, RestApiResponse=response)
        if status >= 400:
            raise ApiError("RestApiClientException", "The Airflow REST API returned a client error.", 400,
                           RestApiStatusCode=status, RestApiResponse=response)
        return {"RestApiStatusCode": status, "RestApiResponse": response}

    def tags(self, arn: str, method: str, body: dict, args) -> dict:
        name = arn.rsplit("environment/", 1)[-1] if ":environment/" in arn else ""
        env = self.get(name)
        if method == "GET":
            return {"Tags": dict(env.tags)}
        if method == "POST":
            env.tags.update(body.get("Tags") or {})
            return {}
        if method == "DELETE":
            for key in args.getlist("tagKeys"):
                env.tags.pop(key, None)
            return {}
        raise invalid(f"Unsupported tags operation {method}.")

    def available(self, name: str) -> Environment:
        env = self.get(name)
        if env.status not in ("AVAILABLE", "UPDATING") or env.name not in self.runtimes:
            raise invalid(f"Environment {name} is {env.status}; it must be AVAILABLE.")
        return env

    def run_cli(self, request: Request) -> tuple[int, dict]:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        name, expires = self.cli_tokens.get(token, ("", 0.0))
        if not name or expires < time.monotonic():
            raise ApiError("AccessDeniedException", "Invalid or expired CLI token: call CreateCliToken again.", 403)
        runtime = self.runtimes.get(name)
        args = shlex.split(request.get_data(as_text=True))
        if runtime is None or not args or args[0] not in CLI_COMMANDS:
            raise invalid(f"Unsupported Airflow CLI command {args[:1]}; allowed: {', '.join(sorted(CLI_COMMANDS))}.")
        done = subprocess.run([sys.executable, "-m", "airflow", *args], env=runtime.env, capture_output=True,
                              timeout=120, cwd=runtime.home)
        return 200, {"stdout": base64.b64encode(done.stdout).decode(), "stderr": base64.b64encode(done.stderr).decode()}

    # ---- lifecycle ----
    def set_status(self, env: Environment, status: str, error: str | None = None, code: str = "") -> None:
        previous, env.status = env.status, status
        if error:
            env.last_update = {"Status": "FAILED", "CreatedAt": now().timestamp(), "Source": "Emulator",
                               "Error": {"ErrorCode": code or status, "ErrorMessage": error}}
        elif env.last_update.get("Status") == "PENDING":
            env.last_update["Status"] = "SUCCESS"
        self.emit(env, previous)

    def emit(self, env: Environment, previous: str | None) -> None:
        try:
            self.client("events", env.region).put_events(Entries=[{
                "Source": "aws.airflow", "DetailType": "MWAA Environment Status Change", "Resources": [env.arn],
                "Detail": json.dumps(env.event_detail(previous)), "EventBusName": "default"}])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            pass  # events are best effort, as on AWS; the status itself is authoritative

    def _endpoints_ready(self, env: Environment) -> bool:
        wanted = [env.database_service] + ([env.webserver_service] if env.webserver_service else [])
        ec2 = self.client("ec2", env.region)
        found = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [env.vpc_id]},
                                                    {"Name": "service-name", "Values": wanted}])["VpcEndpoints"]
        live = {e["ServiceName"] for e in found if e.get("State", "available") in ("available", "pending", "pendingAcceptance")}
        return set(wanted) <= live

    def _create(self, env: Environment) -> None:
        try:
            fresh_home(self.root / env.name, self.root.parent)  # nothing of an earlier environment of this name is reused
            if env.config["EndpointManagement"] == "CUSTOMER":
                self.set_status(env, "PENDING")
                deadline = time.monotonic() + self.settings["pending_timeout_seconds"]
                while not self._endpoints_ready(env):
                    if env.status != "PENDING":
                        return  # deleted while waiting
                    if time.monotonic() > deadline:
                        self.set_status(env, "CREATE_FAILED", "The VPC endpoints for the environment were not created in time.",
                                        "INCORRECT_CONFIGURATION")
                        return
                    time.sleep(1)
                self.set_status(env, "CREATING")
            error = self._start_runtime(env)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        if env.status == "DELETING":
            return
        if error:
            self._stop_runtime(env)
            self.set_status(env, "CREATE_FAILED", error, "AIRFLOW_START_FAILED")
        else:
            self.set_status(env, "AVAILABLE")

    def _update(self, env: Environment) -> None:
        try:
            self._stop_runtime(env)
            error = self._start_runtime(env)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error:
            self._stop_runtime(env)
            self.set_status(env, "UPDATE_FAILED", error, "AIRFLOW_START_FAILED")
        else:
            self.set_status(env, "AVAILABLE")

    def _delete(self, env: Environment) -> None:
        self._stop_runtime(env)
        try:
            self.client("sqs", env.region).delete_queue(QueueUrl=env.queue_url)
        except botocore.exceptions.ClientError:
            pass
        shutil.rmtree(self.root / env.name, ignore_errors=True)
        with self.lock:
            self.envs.pop(env.name, None)
        previous, env.status = env.status, "DELETED"
        self.emit(env, previous)

    def _start_runtime(self, env: Environment) -> str | None:
        cfg = env.config
        home = self.root / env.name
        logs = self.client("logs", env.region)
        for module, setting in cfg["LoggingConfiguration"].items():
            if setting["Enabled"]:
                try:
                    logs.create_log_group(logGroupName=env.log_group(module))
                except botocore.exceptions.ClientError:
                    pass  # kept from an earlier environment of the same name, as on AWS
        task_logs = cfg["LoggingConfiguration"]["TaskLogs"]
        task_group_arn = (f"arn:aws:logs:{env.region}:{local_aws.ACCOUNT_ID}:log-group:{env.log_group('TaskLogs')}"
                          if task_logs["Enabled"] else None)
        sync = DagSync(self.client("s3", env.region), bucket_name(cfg["SourceBucketArn"]), cfg["DagS3Path"], home / "dags")
        sync.start()
        self.syncs[env.name] = sync
        runtime = AirflowRuntime(home / "airflow", home / "dags", self.cache_dir, self.aws_env(env.region))
        self.runtimes[env.name] = runtime
        runtime.start(cfg["AirflowConfigurationOptions"], task_group_arn, task_logs["LogLevel"] if task_logs["Enabled"] else "INFO")
        env.webserver_url = runtime.url.split("://", 1)[1]
        return runtime.wait_healthy(self.settings["start_timeout_seconds"])

    def _stop_runtime(self, env: Environment) -> None:
        sync = self.syncs.pop(env.name, None)
        if sync:
            sync.stop()
        runtime = self.runtimes.pop(env.name, None)
        if runtime:
            runtime.stop()
        env.webserver_url = ""


def _region(request: Request) -> str:
    auth = request.headers.get("Authorization", "")
    try:
        return auth.split("Credential=", 1)[1].split("/")[2]
    except IndexError:
        return "us-east-1"
