"""The one cloud layer: every boto3 session and client in the workbook comes from here.

Only this module knows the target. On `local` it points at the local cloud on loopback with
dummy credentials; on `aws` it uses the standard AWS configuration (profile, region).
"""

from __future__ import annotations

import json
from functools import cache

import boto3
import botocore.exceptions
from botocore.config import Config

from helpers import localcloud
from helpers.config import Settings, settings
from helpers.errors import WorkbookError

_LOCAL_CONFIG = Config(inject_host_prefix=False, retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5,
                       read_timeout=60)
_AWS_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"})


def session() -> boto3.Session:
    cfg = settings()
    if cfg.is_local:
        return _local_session(cfg.region, localcloud.endpoint("aws"))
    return _aws_session(cfg)


@cache
def _local_session(region: str, endpoint: str) -> boto3.Session:
    # Cached per endpoint: a new local cloud (new port) gets a new session; sessions are costly to build.
    return boto3.Session(aws_access_key_id=localcloud.LOCAL_ACCESS_KEY, aws_secret_access_key=localcloud.LOCAL_SECRET_KEY,
                         region_name=region)


def _aws_session(cfg: Settings) -> boto3.Session:
    try:
        sess = boto3.Session(profile_name=cfg.profile, region_name=cfg.region)
    except botocore.exceptions.ProfileNotFound:
        raise WorkbookError(f"AWS profile {cfg.profile!r} is not configured: run `aws configure --profile {cfg.profile}` "
                            "or set WORKBOOK_AWS_PROFILE to an existing profile.") from None
    if sess.get_credentials() is None:
        raise WorkbookError("No AWS credentials found for WORKBOOK_TARGET=aws: run `aws configure` (or set AWS_PROFILE), "
                            "or use WORKBOOK_TARGET=local.")
    return sess


def client(service: str, **kwargs):
    """A boto3 client for the current target."""
    if settings().is_local:
        kwargs.setdefault("endpoint_url", localcloud.endpoint("aws"))
        kwargs.setdefault("config", _LOCAL_CONFIG)
    else:
        kwargs.setdefault("config", _AWS_CONFIG)
    return session().client(service, **kwargs)


@cache
def _account_id(target: str, region: str, endpoint: str | None) -> str:
    try:
        return client("sts").get_caller_identity()["Account"]
    except botocore.exceptions.NoCredentialsError:
        raise WorkbookError("No AWS credentials found: run `aws configure`, or use WORKBOOK_TARGET=local.") from None
    except botocore.exceptions.ClientError as exc:
        raise WorkbookError(f"AWS rejected the credentials ({exc.response['Error']['Code']}): refresh them "
                            "(e.g. `aws sso login`) and re-run.") from None


def account_id() -> str:
    cfg = settings()
    return _account_id(cfg.target, cfg.region, localcloud.endpoint("aws") if cfg.is_local else None)


def ensure_ready() -> None:
    """Make the target usable: start the local cloud, or check the AWS credentials. Prints where calls go."""
    if settings().is_local:
        localcloud.ensure_up()
    print(describe())


def require_billable_opt_in(what: str) -> None:
    """On AWS, nothing billable is created unless the learner opted in; locally nothing is billable."""
    cfg = settings()
    if not cfg.is_local and not cfg.allow_billable:
        raise WorkbookError(f"Creating {what} on AWS is billable: set allow_billable = true in workbook.toml "
                            "(or WORKBOOK_ALLOW_BILLABLE=1), or set mwaa_environment to use an existing environment.")


def shutdown() -> None:
    """Stop what the workbook runs on this machine: the local cloud on `local`; nothing to stop on `aws`."""
    if settings().is_local:
        stopped = localcloud.down()
        print(f"Local cloud stopped: {', '.join(stopped) or 'nothing was running'}")
    else:
        print("target=aws: nothing runs on this machine to stop")


def describe() -> str:
    """One line saying where the workbook's AWS calls go."""
    cfg = settings()
    if cfg.is_local:
        return f"target=local: AWS APIs emulated on loopback, account {account_id()}, region {cfg.region}"
    return f"target=aws: real AWS account {account_id()}, region {cfg.region}"


def answered_by(what: str, real: str) -> str:
    """One line saying who answered: the local cloud's emulator, or the real service (notebooks print it, so that
    anything emulated says so in the output without branching on the target)."""
    return f"({what}: {'emulated by the local cloud' if settings().is_local else real})"


def airflow_aws_connection() -> str:
    """`aws_default` for Airflow, as AIRFLOW_CONN_AWS_DEFAULT JSON, pointed at the target."""
    cfg = settings()
    extra = {"region_name": cfg.region}
    if cfg.is_local:
        extra["endpoint_url"] = localcloud.endpoint("aws")
        return json.dumps({"conn_type": "aws", "login": localcloud.LOCAL_ACCESS_KEY,
                           "password": localcloud.LOCAL_SECRET_KEY, "extra": extra})
    if cfg.profile:
        extra["profile_name"] = cfg.profile
    return json.dumps({"conn_type": "aws", "extra": extra})


def subprocess_env() -> dict[str, str]:
    """Environment variables that make a child process (Airflow, the AWS CLI) use the same target."""
    cfg = settings()
    env = localcloud.exports() if cfg.is_local else {"WORKBOOK_TARGET": "aws", "AWS_DEFAULT_REGION": cfg.region,
                                                      "AWS_REGION": cfg.region}
    if not cfg.is_local and cfg.profile:
        env["AWS_PROFILE"] = cfg.profile
    env["AIRFLOW_CONN_AWS_DEFAULT"] = airflow_aws_connection()
    return env
