"""Amazon MWAA environments from the workbook. The same boto3 `mwaa` calls work on the local cloud and on AWS.

- `workshop_environment()`: the environment every scenario notebook uses, created once when missing.
- `wait_for_status()`: poll an environment's status with a progress bar and a timeout.
- `AirflowApi`: the environment's Airflow REST API through `invoke_rest_api` (list DAGs, trigger, wait,
  task instances, logs, XComs), so no network path to the web server is needed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import PurePosixPath

import botocore.exceptions
import pandas as pd

from helpers import versions
from helpers.aws import cloud, iam, network, s3
from helpers.aws.tags import resource_name, tags
from helpers.errors import WorkbookError

WORKSHOP = "workshop"  # the notebook tag of the shared environment's resources
WORKSHOP_ENVIRONMENT = "mwaa-workbook"
FAILED = {"CREATE_FAILED", "UPDATE_FAILED", "UNAVAILABLE"}
TASK_LOGS_INFO = {"TaskLogs": {"Enabled": True, "LogLevel": "INFO"}}
DAG_SYNC_ERROR_TAG = "localmwaa:dag-sync-error"  # set by the local MWAA while it cannot copy DAGs from S3


def client():
    return cloud.client("mwaa")


def _code(exc: botocore.exceptions.ClientError) -> str:
    return exc.response["Error"]["Code"]


def status(name: str) -> str | None:
    """The environment's status, or None if there is no such environment."""
    try:
        return client().get_environment(Name=name)["Environment"]["Status"]
    except botocore.exceptions.ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise


def describe(name: str) -> dict:
    try:
        return client().get_environment(Name=name)["Environment"]
    except botocore.exceptions.ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            raise WorkbookError(f"There is no MWAA environment {name!r}: create it first (notebook 01).") from None
        raise


def _execution_role(name: str) -> str:
    return describe(name)["ExecutionRoleArn"].rsplit("/", 1)[-1]


def grant(name: str, policy_name: str, policy: dict) -> None:
    """Add an inline policy to the environment's execution role: what a scenario's DAGs need beyond the basics."""
    cloud.client("iam").put_role_policy(RoleName=_execution_role(name), PolicyName=policy_name, PolicyDocument=json.dumps(policy))


def revoke(name: str, policy_name: str) -> bool:
    """Remove what `grant` added. False if it was not there."""
    try:
        cloud.client("iam").delete_role_policy(RoleName=_execution_role(name), PolicyName=policy_name)
        return True
    except botocore.exceptions.ClientError as exc:
        if _code(exc) != "NoSuchEntity":
            raise
        return False


def wait_for_status(name: str, wanted: str | tuple[str, ...], timeout: float = 900, poll: float = 1.0) -> list[tuple[float, str]]:
    """Wait until the environment's status is one of `wanted` ("DELETED" means gone).

    Returns the statuses seen, with seconds since the wait began. A failure status raises with its reason in one line:
    UPDATE_FAILED is an update MWAA rolled back: the environment runs its previous configuration.
    """
    from helpers.progress import progress

    wanted = (wanted,) if isinstance(wanted, str) else wanted
    seen: list[tuple[float, str]] = []
    started = time.monotonic()
    with progress(f"{name}: waiting for {'/'.join(wanted)}", total=int(timeout), unit="s") as bar:
        while True:
            current = status(name) or "DELETED"
            elapsed = time.monotonic() - started
            if not seen or seen[-1][1] != current:
                seen.append((round(elapsed, 1), current))
            if current in wanted:
                return seen
            if current in FAILED:
                error = " ".join(describe(name).get("LastUpdate", {}).get("Error", {}).get("ErrorMessage", "no reason given").split())
                if current == "UPDATE_FAILED":  # MWAA's status after a rollback that worked (UNAVAILABLE if it did not)
                    raise WorkbookError(f"Environment {name}'s update failed and was rolled back (UPDATE_FAILED, running "
                                        f"its previous configuration): {error}")
                raise WorkbookError(f"Environment {name} is {current}: {error}")
            if elapsed > timeout:
                raise WorkbookError(f"Environment {name} still {current} after {timeout:.0f} s; check it with GetEnvironment.")
            bar.update(int(elapsed) - bar.n)
            time.sleep(poll)


@dataclass(frozen=True)
class Prerequisites:
    """What CreateEnvironment needs to exist first."""

    bucket: str
    bucket_arn: str
    role_arn: str
    network: network.Network


def create_prerequisites(notebook: str, environment: str) -> Prerequisites:
    """The MWAA prerequisites: a versioned source bucket with dags/, an execution role, a private network with the
    VPC endpoints the environment needs. On AWS the endpoints and the environment are billable: the opt-in is checked
    before anything is created."""
    cloud.require_billable_opt_in("an MWAA environment and the VPC endpoints it needs")
    bucket = resource_name(notebook, "env")
    bucket_arn = s3.create_environment_bucket(bucket, notebook)
    role = iam.create_role(f"{environment}-execution", notebook, iam.MWAA_TRUST, iam.execution_policy(bucket, environment),
                           "MWAA execution role created by the workbook")
    net = network.create_private_network(notebook)
    network.create_service_endpoints(net, notebook)
    return Prerequisites(bucket, bucket_arn, role, net)


def workshop_prerequisites() -> Prerequisites:
    """The workshop environment's prerequisites: an existing configured environment's, or ours (created if missing)."""
    configured = cloud.settings().mwaa_environment
    if not configured:
        return create_prerequisites(WORKSHOP, WORKSHOP_ENVIRONMENT)
    env = describe(configured)
    net = env["NetworkConfiguration"]
    vpc = cloud.client("ec2").describe_subnets(SubnetIds=net["SubnetIds"][:1])["Subnets"][0]["VpcId"]
    return Prerequisites(env["SourceBucketArn"].split(":::", 1)[1], env["SourceBucketArn"], env["ExecutionRoleArn"],
                         network.Network(vpc, net["SubnetIds"], net["SecurityGroupIds"]))


def workbook_environments() -> list[str]:
    """Environments carrying the workbook's tag (others in the account are not the workbook's business)."""
    from helpers.aws.tags import WORKBOOK_TAG, WORKBOOK_VALUE

    region, account = cloud.settings().region, cloud.account_id()
    return [name for name in client().list_environments()["Environments"]
            if client().list_tags_for_resource(ResourceArn=f"arn:aws:airflow:{region}:{account}:environment/{name}")
            ["Tags"].get(WORKBOOK_TAG) == WORKBOOK_VALUE]


def environment_request(name: str, prereq: Prerequisites, notebook: str, **overrides) -> dict:
    """CreateEnvironment's arguments for a small environment; override any member. The Airflow version is pinned to
    the one the workbook's packages match (without it MWAA picks its newest, which may not be what the DAGs expect)."""
    request = {
        "Name": name, "AirflowVersion": versions.MWAA_VERSION, "ExecutionRoleArn": prereq.role_arn,
        "SourceBucketArn": prereq.bucket_arn, "DagS3Path": "dags",
        "NetworkConfiguration": {"SubnetIds": prereq.network.subnet_ids, "SecurityGroupIds": prereq.network.security_group_ids},
        "EnvironmentClass": "mw1.small", "MaxWorkers": 2, "WebserverAccessMode": "PUBLIC_ONLY",
        "LoggingConfiguration": TASK_LOGS_INFO, "Tags": tags(notebook),
    }
    request.update(overrides)
    return request


def create_environment(request: dict) -> str:
    """CreateEnvironment, with the workbook's billable-resource guard. Returns the ARN."""
    cloud.require_billable_opt_in("an MWAA environment")
    try:
        return client().create_environment(**request)["Arn"]
    except botocore.exceptions.ClientError as exc:
        if _code(exc) == "ValidationException":
            raise WorkbookError(f"CreateEnvironment rejected: {exc.response['Error']['Message']}") from None
        raise


def delete_environment(name: str, timeout: float = 900) -> bool:
    """Delete an environment and wait until it is gone. False if there was none."""
    if status(name) is None:
        return False
    if status(name) != "DELETING":
        client().delete_environment(Name=name)
    wait_for_status(name, "DELETED", timeout)
    return True


def workshop_name() -> str:
    """The workshop environment's name: the configured one on AWS (`mwaa_environment`), else the workbook's."""
    return cloud.settings().mwaa_environment or WORKSHOP_ENVIRONMENT


def workshop_environment(timeout: float = 900) -> str:
    """The workshop's shared environment: the configured one on AWS, else ours, created when missing."""
    configured = cloud.settings().mwaa_environment
    name = workshop_name()
    current = status(name)
    if current is None and configured:
        raise WorkbookError(f"The configured MWAA environment {configured!r} does not exist in {cloud.settings().region}.")
    if current is None:
        create_environment(environment_request(name, workshop_prerequisites(), WORKSHOP))
    wait_for_status(name, "AVAILABLE", timeout)
    return name


def remove_dags(name: str, dag_ids) -> list[dict]:
    """Delete these DAGs from an environment: their files in the DAGs folder, then, once Airflow no longer lists them,
    their metadata. One row per file and per DAG ({"resource", "deleted"})."""
    rows = []
    bucket, prefix = source_bucket(name)
    api = AirflowApi(name)
    for key in s3.list_keys(bucket, prefix):
        if PurePosixPath(key).stem in dag_ids:
            cloud.client("s3").delete_object(Bucket=bucket, Key=key)
            rows.append({"resource": f"dag file {PurePosixPath(key).name}", "deleted": True})
    for dag_id in sorted(d for d in api.dags().dag_id if d in dag_ids):
        api.wait_for_dag(dag_id, present=False, timeout=120)
        api.delete_dag(dag_id)
        rows.append({"resource": f"dag {dag_id}", "deleted": True})
    return rows


def _options_record(name: str, notebook: str):
    from helpers.paths import state_dir

    return state_dir() / notebook / f"{name}-airflow-configuration-options.json"


def remember_options(name: str, notebook: str, options: dict[str, str] | None = None) -> dict[str, str]:
    """An environment's AirflowConfigurationOptions before `notebook` changes them (`options`, or as described now),
    kept on disk for its clean-up. The first record wins: a re-run after an interruption does not record the changed
    options."""
    record = _options_record(name, notebook)
    if record.exists():
        return json.loads(record.read_text())
    options = dict(describe(name).get("AirflowConfigurationOptions") or {}) if options is None else dict(options)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.touch(mode=0o600)  # option values can be secret: readable by you only
    record.write_text(json.dumps(options))
    return options


def restore_options(name: str, notebook: str, timeout: float = 3600, wait: bool = True) -> dict[str, str] | None:
    """Put back what `remember_options` kept (UpdateEnvironment replaces the whole map; an update restarts Airflow).
    The options restored, or None when nothing was recorded. `wait=False` returns while the update runs."""
    record = _options_record(name, notebook)
    if not record.exists():
        return None
    previous = json.loads(record.read_text())
    if status(name) and (describe(name).get("AirflowConfigurationOptions") or {}) != previous:
        client().update_environment(Name=name, AirflowConfigurationOptions=previous)
        if wait:
            wait_for_status(name, "AVAILABLE", timeout)
    record.unlink()
    return previous


def source_bucket(name: str) -> tuple[str, str]:
    """(bucket, DAG prefix) of an environment, e.g. ("my-bucket", "dags/")."""
    env = describe(name)
    return env["SourceBucketArn"].split(":::", 1)[1], env["DagS3Path"].strip("/") + "/"


class AirflowApi:
    """An environment's Airflow REST API (v2 on Airflow 3) through MWAA's InvokeRestApi."""

    def __init__(self, environment: str):
        self.environment = environment

    def call(self, method: str, path: str, query: dict | None = None, body: dict | None = None) -> dict:
        args = {"Name": self.environment, "Path": path, "Method": method}
        if query:
            args["QueryParameters"] = query
        if body is not None:
            args["Body"] = body
        try:
            return client().invoke_rest_api(**args)["RestApiResponse"]
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in ("RestApiClientException", "RestApiServerException"):
                detail = exc.response.get("RestApiResponse", {}).get("detail", exc.response["Error"]["Message"])
                raise WorkbookError(f"Airflow API {method} {path} answered {exc.response.get('RestApiStatusCode')}: {detail}") from None
            raise WorkbookError(f"InvokeRestApi on {self.environment}: {exc.response['Error']['Message']}") from None

    def dags(self) -> pd.DataFrame:
        dags = self.call("GET", "/dags", {"limit": 100})["dags"]
        frame = pd.DataFrame(dags, columns=["dag_id", "is_paused", "is_stale", "tags", "relative_fileloc"])
        frame["tags"] = frame["tags"].map(lambda ts: ",".join(sorted(t["name"] for t in ts or [])))
        return frame.sort_values("dag_id").reset_index(drop=True)

    def wait_for_dag(self, dag_id: str, timeout: float = 60, present: bool = True) -> float:
        """Wait until a DAG is listed (or, with present=False, gone or stale). Returns seconds waited."""
        from helpers.procs import wait_until

        def listed() -> bool:
            dags = self.dags()
            live = dags[(dags.dag_id == dag_id) & (~dags.is_stale)]
            return live.empty != present

        try:
            return wait_until(listed, timeout, f"DAG {dag_id} {'listed' if present else 'removed'}", interval=0.5)
        except WorkbookError as exc:
            raise WorkbookError(" ".join([str(exc), *self.why_no_dags()])) from None

    def import_errors(self) -> list[tuple[str, str]]:
        """(file, first lines of the error) for every DAG file Airflow could not import."""
        errors = self.call("GET", "/importErrors", {"limit": 100}).get("import_errors", [])
        return [(e.get("filename", "?").rsplit("/", 1)[-1], " | ".join(
            ln.strip() for ln in (e.get("stack_trace") or "").strip().splitlines()[-3:] if ln.strip())) for e in errors]

    def why_no_dags(self) -> list[str]:
        """What a learner can act on when a DAG does not show up: import errors, and a failing S3 sync (local MWAA)."""
        reasons = [f"Import error in {name}: {error}" for name, error in self.import_errors()]
        sync_error = describe(self.environment).get("Tags", {}).get(DAG_SYNC_ERROR_TAG)
        if sync_error:
            reasons.append(f"Copying DAGs from S3 fails: {sync_error}")
        return reasons or ["Airflow reports no import error: check the DAG file is in the environment's DagS3Path."]

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Unpause (MWAA pauses new DAGs) and trigger a run; returns its run id."""
        self.call("PATCH", f"/dags/{dag_id}", body={"is_paused": False})
        return self.call("POST", f"/dags/{dag_id}/dagRuns", body={"logical_date": None, "conf": conf or {}})["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        from helpers.procs import wait_until

        state = {}

        def finished() -> bool:
            state.update(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))
            return state["state"] in ("success", "failed")

        wait_until(finished, timeout, f"DAG run {dag_id}", interval=0.5)
        if describe(self.environment)["LoggingConfiguration"].get("TaskLogs", {}).get("Enabled"):
            # Airflow uploads a task's log when the task process exits, possibly after the run is marked done:
            # wait, so that a finished run's logs can be read straight away. A task that never started has no log.
            tis = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
            # A task the scheduler failed without a worker (stuck in queued) has a start date but no host.
            ran = sum(1 for ti in tis if ti["state"] in ("success", "failed") and ti.get("start_date") and ti.get("hostname"))
            try:
                self.task_log_streams(dag_id, run_id, expected=ran, timeout=120)
            except WorkbookError:
                if state["state"] != "failed":
                    raise
                raise WorkbookError(self.failure(dag_id, run_id, tis) + " Its task logs did not all reach CloudWatch.") from None
        return state["state"]

    @staticmethod
    def failure(dag_id: str, run_id: str, tis: list[dict]) -> str:
        """One line on a failed run: its first failed task and whether that task ever started."""
        failed = sorted((ti for ti in tis if ti["state"] in ("failed", "upstream_failed")),
                        key=lambda ti: (ti["state"] != "failed", ti.get("start_date") or "", ti["task_id"]))
        if not failed:
            return f"DAG run {dag_id} {run_id} failed with no failed task (see the run's note and the scheduler log)."
        first = failed[0]
        started = "after it started" if first.get("start_date") else "before it started (no task log exists)"
        return f"DAG run {dag_id} {run_id} failed: task {first['task_id']} is {first['state']}, {started}."

    def run(self, dag_id: str, conf: dict | None = None, timeout: float = 300) -> tuple[str, str]:
        """Trigger and wait: (run id, final state)."""
        run_id = self.trigger(dag_id, conf)
        return run_id, self.wait_for_run(dag_id, run_id, timeout)

    def task_instances(self, dag_id: str, run_id: str) -> pd.DataFrame:
        tis = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        frame = pd.DataFrame(tis).rename(columns={"task_id": "task", "start_date": "start", "end_date": "end",
                                                  "duration": "seconds", "try_number": "try"})
        for col in ("start", "end"):
            frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
        return frame[["task", "state", "start", "end", "seconds", "try", "operator"]].sort_values("start").reset_index(drop=True)

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[str]:
        """The task's log as lines: what the task and its operator logged, and any exception (type: message)."""
        content = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                            {"full_content": True})["content"]
        lines = []
        for entry in content:
            if isinstance(entry, dict) and entry.get("event"):
                lines.append(entry["event"])
                lines += [f"{err['exc_type']}: {err['exc_value']}" for err in entry.get("error_detail") or []]
        return lines

    def trigger_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[str]:
        """What the triggerer logged for a deferred task, as "Logger: message" lines. MWAA keeps it in the Task log
        group, in streams next to the task's own (`...attempt=N.log.trigger.<triggerer id>.log`)."""
        group = f"airflow-{self.environment}-Task"
        marker = f"dag_id={dag_id}/run_id={run_id.replace(':', '_')}/task_id={task_id}/attempt={try_number}.log.trigger."
        logs, lines = cloud.client("logs"), []
        for page in logs.get_paginator("describe_log_streams").paginate(logGroupName=group, logStreamNamePrefix=marker):
            for stream in page["logStreams"]:
                events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)["events"]
                for event in events:
                    try:
                        entry = json.loads(event["message"])
                    except ValueError:
                        lines.append(event["message"])
                        continue
                    source = (entry.get("logger") or "triggerer").rsplit(".", 1)[-1]
                    lines.append(f"{source}: {entry.get('event', '')}".strip())
        return lines

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value"):
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        try:
            return self.call("GET", path, {"deserialize": True})["value"]
        except WorkbookError as exc:
            if "XCom deserialization is disabled" not in str(exc):
                raise
        # Airflow 3.0 refuses `deserialize` unless [api] enable_xcom_deserialize_support is on, and MWAA leaves it
        # off: the stored value then, which is the JSON the task's return value was serialized to.
        value = self.call("GET", path)["value"]
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def task_log_streams(self, dag_id: str, run_id: str, expected: int, timeout: float = 60) -> list[str]:
        """The run's task log streams in the environment's CloudWatch group, once `expected` have arrived.

        Airflow uploads a task's log when the task process exits, which can be after the run is marked done.
        """
        from helpers.procs import wait_until

        group, marker = f"airflow-{self.environment}-Task", f"dag_id={dag_id}/run_id={run_id.replace(':', '_')}/"
        found: list[str] = []

        def arrived() -> bool:
            pages = cloud.client("logs").get_paginator("describe_log_streams").paginate(logGroupName=group)
            found[:] = sorted(s["logStreamName"] for page in pages for s in page["logStreams"] if s["logStreamName"].startswith(marker))
            return len(found) >= expected

        wait_until(arrived, timeout, f"{expected} task log streams in {group}", interval=1.0)
        return found

    def dag_runs(self) -> pd.DataFrame:
        """Every DAG run of the environment (for a cluster-activity summary)."""
        runs = self.call("GET", "/dags/~/dagRuns", {"limit": 100})["dag_runs"]
        return pd.DataFrame(runs, columns=["dag_id", "dag_run_id", "state", "run_type", "start_date", "end_date"])

    def delete_dag(self, dag_id: str) -> None:
        self.call("DELETE", f"/dags/{dag_id}")


# ---- The Airflow UI, signed in through CreateWebLoginToken ----
UI_LOGIN_PATH = "/pluginsv2/aws_mwaa/login"  # MWAA's Airflow 3 UI sign-in (Airflow 2's was /aws_mwaa/login)
_AS_LINK = "background:none;border:none;padding:0;color:#0969da;text-decoration:underline;cursor:pointer;font:inherit"


def login_link_html(hostname: str, token: str, name: str, local: bool | None = None) -> str:
    """HTML for one clickable sign-in: a plain link locally, a POST form (styled as a link) on AWS (`local`: the
    configured target unless given)."""
    from html import escape
    from urllib.parse import urlencode

    text = f"Open the Airflow UI of {escape(name)}"
    if local is None:
        local = cloud.settings().is_local
    if local:
        url = f"http://{hostname}{UI_LOGIN_PATH}?{urlencode({'token': token})}"
        return f'<a href="{escape(url)}" target="_blank" rel="noopener">{text}</a> (local MWAA: emulated sign-in)'
    # MWAA takes the token only as a POSTed form field, which a plain link cannot send.
    return (f'<form method="post" action="https://{escape(hostname)}{UI_LOGIN_PATH}" target="_blank" style="display:inline">'
            f'<input type="hidden" name="token" value="{escape(token)}">'
            f'<button type="submit" style="{_AS_LINK}">{text}</button></form> '
            "(the sign-in token lasts 60 s: run the cell again for a new one)")


def airflow_ui_link(name: str):
    """One link that opens the environment's Airflow UI signed in, as the MWAA console's "Open Airflow UI" does.

    It carries a web login token from CreateWebLoginToken (a sign-in credential: do not share the output).
    """
    from IPython.display import HTML

    answer = client().create_web_login_token(Name=name)
    return HTML(login_link_html(answer["WebServerHostname"], answer["WebToken"], name))


def ui_url(hostname: str, path: str = "") -> str:
    """An address on the environment's web server (WebServerHostname): HTTPS on MWAA, plain HTTP on loopback locally."""
    return f"{'http' if cloud.settings().is_local else 'https'}://{hostname}{path}"


def sign_in(hostname: str, token: str) -> tuple[int, str | None]:
    """POST a web login token to the UI's sign-in route, as a browser does: (HTTP status, Airflow session token or None).

    Redirects are not followed: the session cookie (`_token`) comes with the sign-in answer itself.
    """
    import re
    import urllib.error
    import urllib.parse
    import urllib.request

    class _Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(ui_url(hostname, UI_LOGIN_PATH), data=urllib.parse.urlencode({"token": token}).encode(),
                                     method="POST")
    try:
        answer = urllib.request.build_opener(_Stay).open(request, timeout=20)
    except urllib.error.HTTPError as exc:
        answer = exc
    cookies = answer.headers.get_all("Set-Cookie") or []
    session = next((m.group(1) for c in cookies if (m := re.match(r"_token=([^;]+)", c))), None)
    return answer.status if hasattr(answer, "status") else answer.code, session
