"""MWAA's state and operations, one backend per account and region (as moto keeps a service's state).

Every status change goes through `MwaaBackend.transition`, under one lock, and only the operation that owns the
environment (`Environment.operation`) may change it: a DeleteEnvironment takes ownership from a running create or
update, whose thread then notices it was superseded and changes nothing. What AWS refuses is refused under the
same lock, so two concurrent calls cannot both pass a status check.

Statuses (botocore's EnvironmentStatus) the local MWAA uses: CREATING, PENDING (customer-managed endpoints not yet
created), AVAILABLE, UPDATING, CREATING_SNAPSHOT, ROLLING_BACK, DELETING, DELETED (in the event only: the environment
is gone afterwards, as GetEnvironment answers ResourceNotFoundException on AWS soon after), CREATE_FAILED,
UPDATE_FAILED, UNAVAILABLE. An update goes UPDATING -> AVAILABLE; a version upgrade UPDATING -> CREATING_SNAPSHOT (the
metadata DB copied aside) -> UPDATING -> AVAILABLE. An update or upgrade that fails goes on to ROLLING_BACK (the
previous configuration restored, and the DB snapshot after an upgrade) -> UPDATE_FAILED, with LastUpdate.Status FAILED
and its Error: as the post "Introducing in-place version upgrades with Amazon MWAA" describes it, "If the rollback is
successful, your previous stable environment will be available and the status will display as UPDATE_FAILED until a
new update is attempted and succeeds. If the rollback fails, the status will show as UNAVAILABLE" (Airflow stopped).
So an UPDATE_FAILED environment answers Airflow calls (`SERVING`) and takes updates. Emulated: the order of UPDATING
and CREATING_SNAPSHOT during an upgrade (AWS does not document it), and how fast a requirements.txt that cannot resolve
fails (before the running Airflow is stopped, see `lifecycle`). Not used: MAINTENANCE (no maintenance windows locally).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path

import botocore.exceptions

from helpers.localcloud.emulators import local_aws
from helpers.localcloud.emulators.mwaa import startup_script, versions
from helpers.localcloud.emulators.mwaa.model import ApiError, Environment, invalid, not_found, now, service_name
from helpers.localcloud.emulators.mwaa.validation import (
    check_update,
    validate_name,
    validate_resources,
    validate_shape,
    with_defaults,
)

# status -> statuses it may change to
TRANSITIONS = {
    "CREATING": {"PENDING", "AVAILABLE", "CREATE_FAILED", "DELETING"},
    "PENDING": {"CREATING", "CREATE_FAILED", "DELETING"},
    "AVAILABLE": {"UPDATING", "DELETING"},
    "UPDATING": {"AVAILABLE", "CREATING_SNAPSHOT", "ROLLING_BACK", "DELETING"},
    "CREATING_SNAPSHOT": {"UPDATING", "ROLLING_BACK", "DELETING"},
    "ROLLING_BACK": {"UPDATE_FAILED", "UNAVAILABLE", "DELETING"},
    "UPDATE_FAILED": {"UPDATING", "DELETING"},
    "UNAVAILABLE": {"UPDATING", "DELETING"},
    "CREATE_FAILED": {"DELETING"},
    "DELETING": {"DELETED"},
}
UPDATABLE_FROM = ("AVAILABLE", "UPDATE_FAILED", "UNAVAILABLE")
SERVING = ("AVAILABLE", "UPDATING", "UPDATE_FAILED")  # Airflow answers (UPDATE_FAILED: rolled back, on the old configuration)
WARNING_TAG = "localmwaa:warning"


class Operation:
    """One create, update or delete: the thread doing it, and whether a later operation superseded it."""

    def __init__(self, kind: str):
        self.kind = kind
        self.cancelled = threading.Event()
        self.thread: threading.Thread | None = None
        self.previous: tuple[dict, dict] | None = None  # an update's: the configuration and notes before it

    def join(self) -> None:
        if self.thread and self.thread is not threading.current_thread():
            self.thread.join()


class Shared:
    """What all backends share: the local cloud's endpoint, the lock, settings, CLI tokens, how runtimes are made."""

    def __init__(self, root: Path, endpoint: str, cache_dir: Path, runtime_factory, sync_factory, python_for=None):
        self.root, self.endpoint, self.cache_dir = root, endpoint, cache_dir
        self.runtime_factory, self.sync_factory = runtime_factory, sync_factory
        # version -> the interpreter that runs it (versions.python_for: makes the version's venv on first use)
        self.python_for = python_for or (lambda version: versions.python_for(version, cache_dir))
        self.lock = threading.RLock()
        # startup_script_timeout_seconds: MWAA's 5 minutes; a notebook may shorten it (POST /_workbook/mwaa/config)
        self.settings = {"pending_timeout_seconds": 72 * 3600.0, "start_timeout_seconds": 120.0,
                         "startup_script_timeout_seconds": startup_script.TIMEOUT_SECONDS}
        self.cli_tokens: dict[str, tuple[Environment, float]] = {}

    def client(self, service: str, region: str):
        return local_aws.client(self.endpoint, service, region)

    def aws_env(self, region: str, execution_role_arn: str | None = None) -> dict[str, str]:
        """What Airflow in the environment sees: the local cloud as its AWS, signed in as the execution role, as on
        MWAA (STS AssumeRole; the identity matters where a service maps roles, such as EKS's access mapping)."""
        key, secret, token = "testing", "testing", None
        if execution_role_arn:
            session = self.client("sts", region).assume_role(
                RoleArn=execution_role_arn, RoleSessionName="AmazonMWAA-airflow", DurationSeconds=43200)["Credentials"]
            key, secret, token = session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"]
        extra = {"region_name": region, "endpoint_url": self.endpoint, **({"aws_session_token": token} if token else {})}
        conn = {"conn_type": "aws", "login": key, "password": secret, "extra": extra}
        env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
               "AWS_DEFAULT_REGION": region, "AWS_REGION": region, "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
               "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(conn)}
        return {**env, "AWS_SESSION_TOKEN": token} if token else env


class MwaaBackend:
    """One account's MWAA environments in one region."""

    def __init__(self, account: str, region: str, shared: Shared):
        from helpers.localcloud.emulators.mwaa.lifecycle import Lifecycle

        self.account, self.region, self.shared = account, region, shared
        self.lock = shared.lock
        self.envs: dict[str, Environment] = {}
        self.lifecycle = Lifecycle(self)

    def client(self, service: str):
        return self.shared.client(service, self.region)

    # ---- the state machine ----
    def transition(self, env: Environment, status: str, op: Operation | None, error: str | None = None, code: str = "") -> bool:
        """Move env to `status` if `op` still owns it and the move is allowed. False (and nothing changed) otherwise."""
        with self.lock:
            if op is not None and env.operation is not op:
                return False
            if status not in TRANSITIONS.get(env.status, ()):
                return False
            previous, env.status = env.status, status
            if error:
                # an update's LastUpdate keeps its CreatedAt and Source; a failed create gets one of its own
                started = {key: env.last_update[key] for key in ("CreatedAt", "Source") if key in env.last_update} or {
                    "CreatedAt": now().timestamp(), "Source": "Emulator"}
                env.last_update = {**started, "Status": "FAILED", "Error": {"ErrorCode": code or status, "ErrorMessage": error}}
            elif status == "AVAILABLE" and env.last_update.get("Status") == "PENDING":
                env.last_update["Status"] = "SUCCESS"
            self.emit(env, previous)  # under the lock, so events leave in the order the statuses changed
            return True

    def emit(self, env: Environment, previous: str | None) -> None:
        try:
            self.client("events").put_events(Entries=[{
                "Source": "aws.airflow", "DetailType": "MWAA Environment Status Change", "Resources": [env.arn],
                "Detail": json.dumps(env.event_detail(previous)), "EventBusName": "default"}])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            pass  # events are best effort, as on AWS; the status itself is authoritative

    # ---- operations ----
    def get(self, name: str) -> Environment:
        with self.lock:
            env = self.envs.get(name)
        if env is None:
            raise not_found(name)
        return env

    def list_environments(self, next_token: str | None, max_results: str | None) -> dict:
        with self.lock:
            names = sorted(self.envs)
        start, size = int(next_token or 0), int(max_results or 25)
        page = {"Environments": names[start:start + size]}
        if start + size < len(names):
            page["NextToken"] = str(start + size)
        return page

    def _notes(self, env: Environment, warnings: list[str]) -> None:
        env.notes[WARNING_TAG] = warnings[0] if warnings else ""

    def restore(self, env: Environment, op: Operation, config: dict, notes: dict) -> bool:
        """A rollback's first step: the configuration (and notes) from before the update, if `op` still owns env."""
        with self.lock:
            if env.operation is not op:
                return False
            env.config, env.notes = config, notes
            return True

    def create(self, name: str, request: dict) -> dict:
        validate_name(name)
        cfg = with_defaults(request)
        for required in ("ExecutionRoleArn", "SourceBucketArn", "DagS3Path", "NetworkConfiguration"):
            if not cfg.get(required):
                raise invalid(f"{required} is required.")
        validate_shape(cfg)
        self._refuse_existing(name)
        vpc_id, warnings = validate_resources(self.client, cfg, self.account)
        env = Environment(name=name, region=self.region, account=self.account, config=cfg, vpc_id=vpc_id,
                          tags=dict(request.get("Tags") or {}))
        self._notes(env, warnings)
        env.database_service = service_name(self.region)
        if cfg["WebserverAccessMode"] == "PRIVATE_ONLY":
            env.webserver_service = service_name(self.region)
        sqs = self.client("sqs")
        env.queue_url = sqs.create_queue(QueueName=f"airflow-celery-{name}-{secrets.token_hex(4)}")["QueueUrl"]
        env.queue_arn = sqs.get_queue_attributes(QueueUrl=env.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        with self.lock:
            try:
                self._refuse_existing(name)
            except ApiError:
                sqs.delete_queue(QueueUrl=env.queue_url)
                raise
            self.envs[name] = env
            op = env.operation = Operation("create")
            self.emit(env, None)
            self.lifecycle.run(env, op, self.lifecycle.create)
        return {"Arn": env.arn}

    def _refuse_existing(self, name: str) -> None:
        with self.lock:
            if name in self.envs:
                raise invalid(f"Environment {name} already exists.")

    def _refuse_update(self, env: Environment) -> None:
        if env.status not in UPDATABLE_FROM:
            raise invalid(f"Environments with {env.status} status cannot be updated.")

    def update(self, name: str, request: dict) -> dict:
        env = self.get(name)
        with self.lock:
            self._refuse_update(env)
            current = dict(env.config)
        cfg = check_update(current, request)
        validate_shape(cfg)
        _, warnings = validate_resources(self.client, cfg, self.account)
        with self.lock:
            # Checked again: a concurrent update or delete may have started while the resources were checked.
            if self.envs.get(name) is not env:
                raise not_found(name)
            self._refuse_update(env)
            previous_op = env.operation
            op = env.operation = Operation("update")
            op.previous = (dict(env.config), dict(env.notes))  # what a rollback restores
            env.config = cfg
            self._notes(env, warnings)
            env.last_update = {"Status": "PENDING", "CreatedAt": now().timestamp(), "Source": "UpdateEnvironment"}
            self.transition(env, "UPDATING", op)
            self.lifecycle.run(env, op, self.lifecycle.update, previous_op)
        return {"Arn": env.arn}

    def delete(self, name: str) -> dict:
        env = self.get(name)
        with self.lock:
            if env.status in ("DELETING", "DELETED"):
                raise invalid(f"Environment {name} is already being deleted.")
            previous_op = env.operation
            if previous_op is not None:
                previous_op.cancelled.set()
            op = env.operation = Operation("delete")
            self.transition(env, "DELETING", op)
            self.lifecycle.run(env, op, self.lifecycle.delete, previous_op)
        return {}

    def forget(self, env: Environment, op: Operation) -> None:
        """The end of a delete: the environment leaves the backend and a DELETED event goes out."""
        with self.lock:
            if self.envs.get(env.name) is env:
                self.envs.pop(env.name)
            for token in [t for t, (e, _) in self.shared.cli_tokens.items() if e is env]:
                self.shared.cli_tokens.pop(token)
            self.transition(env, "DELETED", op)

    def available(self, name: str):
        """The environment and its running Airflow, for calls that need Airflow to answer."""
        env = self.get(name)
        with self.lock:
            runtime = env.runtime
            if env.status not in SERVING or runtime is None:
                raise invalid(f"Environment {name} is {env.status}; it must be AVAILABLE.")
        return env, runtime

    def cli_token(self, name: str) -> dict:
        env, _ = self.available(name)
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.shared.cli_tokens[token] = (env, time.monotonic() + 60)  # MWAA's CLI tokens last 60 s
        return {"CliToken": token, "WebServerHostname": self.shared.endpoint.split("://", 1)[1]}

    def web_token(self, name: str) -> dict:
        env, runtime = self.available(name)
        return {"WebToken": runtime.token(), "WebServerHostname": env.webserver_url,
                "IamIdentity": f"arn:aws:iam::{self.account}:root", "AirflowIdentity": "admin"}

    def invoke_rest_api(self, name: str, body: dict) -> dict:
        _, runtime = self.available(name)
        path, method = body.get("Path", ""), body.get("Method", "")
        if not path.startswith("/"):
            raise invalid("Path must start with '/', e.g. '/dags'.")
        if method not in ("GET", "PUT", "POST", "PATCH", "DELETE"):
            raise invalid("Method must be one of GET, PUT, POST, PATCH, DELETE.")
        # Airflow 3 environments serve the stable REST API under /api/v2; MWAA maps Path onto it.
        status, response = runtime.call(method, f"/api/v2{path}", body.get("QueryParameters"), body.get("Body"))
        if not isinstance(response, dict):
            response = {"items": response}
        if status >= 500:
            raise ApiError("RestApiServerException", "The Airflow REST API returned a server error.", 400,
                           RestApiStatusCode=status, RestApiResponse=response)
        if status >= 400:
            raise ApiError("RestApiClientException", "The Airflow REST API returned a client error.", 400,
                           RestApiStatusCode=status, RestApiResponse=response)
        return {"RestApiStatusCode": status, "RestApiResponse": response}

    def list_tags(self, name: str) -> dict:
        env = self.get(name)
        with self.lock:
            return {"Tags": env.all_tags()}

    def tag(self, name: str, tags: dict) -> dict:
        env = self.get(name)
        if any(key.startswith(("aws:", "localmwaa:")) for key in tags):
            raise invalid("Tag keys starting with 'aws:' or 'localmwaa:' are reserved.")
        with self.lock:
            env.tags.update(tags)
        return {}

    def untag(self, name: str, keys: list[str]) -> dict:
        env = self.get(name)
        with self.lock:
            for key in keys:
                env.tags.pop(key, None)
        return {}


class BackendDict(dict):
    """(account, region) -> MwaaBackend, made on first use, like moto's BackendDict."""

    def __init__(self, shared: Shared):
        super().__init__()
        self.shared = shared

    def __missing__(self, key: tuple[str, str]) -> MwaaBackend:
        with self.shared.lock:
            if key not in self:
                super().__setitem__(key, MwaaBackend(key[0], key[1], self.shared))
            return super().__getitem__(key)

    def all(self) -> list[MwaaBackend]:
        with self.shared.lock:
            return list(self.values())
