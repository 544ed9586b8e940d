"""MWAA environments as the API sees them: validation of requests like AWS, and the response shapes.

Shapes and names follow the boto3 `mwaa` service model (2020-07-01).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Versions Amazon MWAA offers. The local emulator runs the installed Airflow 3 for every 3.x version.
AIRFLOW_VERSIONS = ("2.7.2", "2.8.1", "2.9.2", "2.10.1", "2.10.3", "3.0.6", "3.3.1")
LATEST_VERSION = "3.3.1"
ENVIRONMENT_CLASSES = ("mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge")
LOG_MODULES = {"DagProcessingLogs": "DAGProcessing", "SchedulerLogs": "Scheduler", "TaskLogs": "Task",
               "WebserverLogs": "WebServer", "WorkerLogs": "Worker"}
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_NAME = re.compile(r"^[a-zA-Z][0-9a-zA-Z\-_]*$")
_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)?:iam::(\d{12}):role/?([a-zA-Z_0-9+=,.@\-_/]+)$")
_BUCKET_ARN = re.compile(r"^arn:aws(-[a-z]+)?:s3:::([a-z0-9.\-]+)$")
_CONFIG_KEY = re.compile(r"^[a-z]+([a-z0-9._]*[a-z0-9_]+)?$")


class ApiError(Exception):
    """An error the API returns: code (x-amzn-ErrorType), HTTP status, message and extra members."""

    def __init__(self, code: str, message: str, status: int = 400, **members):
        super().__init__(message)
        self.code, self.status, self.members = code, status, members


def invalid(message: str) -> ApiError:
    return ApiError("ValidationException", message, 400)


def not_found(name: str) -> ApiError:
    return ApiError("ResourceNotFoundException", f"Environment {name} not found.", 404)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Environment:
    name: str
    region: str
    account: str
    config: dict  # the request's members, as given (defaults filled)
    status: str = "CREATING"
    created_at: datetime = field(default_factory=now)
    vpc_id: str = ""
    queue_arn: str = ""
    queue_url: str = ""
    database_service: str = ""
    webserver_service: str = ""
    webserver_url: str = ""
    tags: dict = field(default_factory=dict)
    last_update: dict = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:airflow:{self.region}:{self.account}:environment/{self.name}"

    def log_group(self, module: str) -> str:
        return f"airflow-{self.name}-{LOG_MODULES[module]}"

    def to_api(self) -> dict:
        cfg = self.config
        logging = {}
        for module, setting in cfg["LoggingConfiguration"].items():
            entry = dict(setting)
            if setting.get("Enabled"):
                entry["CloudWatchLogGroupArn"] = f"arn:aws:logs:{self.region}:{self.account}:log-group:{self.log_group(module)}"
            logging[module] = entry
        body = {
            "Name": self.name, "Status": self.status, "Arn": self.arn, "CreatedAt": self.created_at.timestamp(),
            "ExecutionRoleArn": cfg["ExecutionRoleArn"],
            "ServiceRoleArn": f"arn:aws:iam::{self.account}:role/aws-service-role/airflow.amazonaws.com/AWSServiceRoleForAmazonMWAA",
            "AirflowVersion": cfg["AirflowVersion"], "SourceBucketArn": cfg["SourceBucketArn"], "DagS3Path": cfg["DagS3Path"],
            "AirflowConfigurationOptions": cfg["AirflowConfigurationOptions"], "EnvironmentClass": cfg["EnvironmentClass"],
            "MaxWorkers": cfg["MaxWorkers"], "MinWorkers": cfg["MinWorkers"], "Schedulers": cfg["Schedulers"],
            "MinWebservers": cfg["MinWebservers"], "MaxWebservers": cfg["MaxWebservers"],
            "NetworkConfiguration": cfg["NetworkConfiguration"], "LoggingConfiguration": logging,
            "WeeklyMaintenanceWindowStart": cfg["WeeklyMaintenanceWindowStart"], "Tags": dict(self.tags),
            "WebserverAccessMode": cfg["WebserverAccessMode"], "EndpointManagement": cfg["EndpointManagement"],
            "CeleryExecutorQueue": self.queue_arn, "DatabaseVpcEndpointService": self.database_service,
        }
        for optional in ("PluginsS3Path", "PluginsS3ObjectVersion", "RequirementsS3Path", "RequirementsS3ObjectVersion",
                         "StartupScriptS3Path", "StartupScriptS3ObjectVersion", "KmsKey"):
            if cfg.get(optional):
                body[optional] = cfg[optional]
        if self.webserver_url:
            body["WebserverUrl"] = self.webserver_url
        if self.webserver_service:
            body["WebserverVpcEndpointService"] = self.webserver_service
        if self.last_update:
            body["LastUpdate"] = self.last_update
        return body

    def event_detail(self, previous: str | None) -> dict:
        """What an MWAA status-change event carries: enough for a handler to act without another call."""
        cfg = self.config
        detail = {
            "name": self.name, "arn": self.arn, "status": self.status, "previousStatus": previous,
            "airflowVersion": cfg["AirflowVersion"], "environmentClass": cfg["EnvironmentClass"],
            "webserverAccessMode": cfg["WebserverAccessMode"], "endpointManagement": cfg["EndpointManagement"],
            "celeryExecutorQueue": self.queue_arn, "databaseVpcEndpointService": self.database_service,
            "networkConfiguration": {"subnetIds": cfg["NetworkConfiguration"]["SubnetIds"],
                                     "securityGroupIds": cfg["NetworkConfiguration"]["SecurityGroupIds"]},
        }
        if self.webserver_service:
            detail["webserverVpcEndpointService"] = self.webserver_service
        if self.last_update.get("Error"):
            detail["error"] = self.last_update["Error"]
        return detail


def service_name(region: str) -> str:
    return f"com.amazonaws.vpce.{region}.vpce-svc-{secrets.token_hex(8)}"


def with_defaults(request: dict) -> dict:
    cfg = dict(request)
    cfg.setdefault("AirflowVersion", LATEST_VERSION)
    cfg.setdefault("EnvironmentClass", "mw1.small")
    micro = cfg["EnvironmentClass"] == "mw1.micro"
    cfg.setdefault("MinWorkers", 1)
    cfg.setdefault("MaxWorkers", 1 if micro else 10)
    cfg.setdefault("Schedulers", 1 if micro else 2)
    cfg.setdefault("MinWebservers", 1 if micro else 2)
    cfg.setdefault("MaxWebservers", 1 if micro else 2)
    cfg.setdefault("WebserverAccessMode", "PRIVATE_ONLY")
    cfg.setdefault("EndpointManagement", "SERVICE")
    cfg.setdefault("AirflowConfigurationOptions", {})
    cfg.setdefault("WeeklyMaintenanceWindowStart", "SUN:03:30")
    logging = {m: {"Enabled": False, "LogLevel": "INFO"} for m in LOG_MODULES}
    for module, setting in (cfg.get("LoggingConfiguration") or {}).items():
        logging[module] = {"Enabled": bool(setting.get("Enabled")), "LogLevel": setting.get("LogLevel", "INFO")}
    cfg["LoggingConfiguration"] = logging
    cfg.pop("Tags", None)
    cfg.pop("Name", None)
    return cfg


def validate_shape(cfg: dict) -> None:
    """Checks that need no other service, in the order AWS reports them."""
    if cfg["AirflowVersion"] not in AIRFLOW_VERSIONS:
        raise invalid(f"Invalid AirflowVersion {cfg['AirflowVersion']!r}. Valid values: {', '.join(AIRFLOW_VERSIONS)}.")
    if cfg["EnvironmentClass"] not in ENVIRONMENT_CLASSES:
        raise invalid(f"Invalid EnvironmentClass {cfg['EnvironmentClass']!r}. Valid values: {', '.join(ENVIRONMENT_CLASSES)}.")
    micro = cfg["EnvironmentClass"] == "mw1.micro"
    max_workers = 1 if micro else 25
    if not 1 <= cfg["MinWorkers"] <= cfg["MaxWorkers"]:
        raise invalid(f"MinWorkers ({cfg['MinWorkers']}) must be at least 1 and at most MaxWorkers ({cfg['MaxWorkers']}).")
    if cfg["MaxWorkers"] > max_workers:
        raise invalid(f"MaxWorkers must be at most {max_workers} for {cfg['EnvironmentClass']}.")
    schedulers = (1, 1) if micro else (2, 5)
    if not schedulers[0] <= cfg["Schedulers"] <= schedulers[1]:
        raise invalid(f"Schedulers must be between {schedulers[0]} and {schedulers[1]} for {cfg['EnvironmentClass']}.")
    if cfg["WebserverAccessMode"] not in ("PRIVATE_ONLY", "PUBLIC_ONLY"):
        raise invalid("WebserverAccessMode must be PRIVATE_ONLY or PUBLIC_ONLY.")
    if cfg["EndpointManagement"] not in ("CUSTOMER", "SERVICE"):
        raise invalid("EndpointManagement must be CUSTOMER or SERVICE.")
    for key, value in cfg["AirflowConfigurationOptions"].items():
        if not _CONFIG_KEY.match(key) or "." not in key:
            raise invalid(f"Invalid AirflowConfigurationOptions key {key!r}: use 'section.option', e.g. 'core.default_timezone'.")
        if not isinstance(value, str) or not value:
            raise invalid(f"AirflowConfigurationOptions value for {key!r} must be a non-empty string.")
    for module, setting in cfg["LoggingConfiguration"].items():
        if module not in LOG_MODULES:
            raise invalid(f"Unknown LoggingConfiguration module {module!r}.")
        if setting["LogLevel"] not in LOG_LEVELS:
            raise invalid(f"Invalid LogLevel {setting['LogLevel']!r} for {module}.")
    for key in ("DagS3Path", "PluginsS3Path", "RequirementsS3Path", "StartupScriptS3Path"):
        path = cfg.get(key)
        if path is not None and (not path or path.startswith(("/", "s3://"))):
            raise invalid(f"{key} must be a path relative to the bucket, e.g. 'dags', not {path!r}.")


def validate_name(name: str) -> None:
    if not 1 <= len(name) <= 80 or not _NAME.match(name):
        raise invalid(f"Invalid environment name {name!r}: 1-80 characters, a letter first, then letters, digits, - or _.")


def role_name(arn: str) -> str:
    match = _ROLE_ARN.match(arn or "")
    if not match:
        raise invalid(f"Invalid ExecutionRoleArn {arn!r}: expected arn:aws:iam::<account>:role/<name>.")
    return match.group(3).rsplit("/", 1)[-1]


def bucket_name(arn: str) -> str:
    match = _BUCKET_ARN.match(arn or "")
    if not match:
        raise invalid(f"Invalid SourceBucketArn {arn!r}: expected arn:aws:s3:::<bucket>.")
    return match.group(2)
