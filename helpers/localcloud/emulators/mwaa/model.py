"""MWAA environments as the API sees them: the environment record, its response shapes, the API's errors.

Shapes and names follow the boto3 `mwaa` service model (2020-07-01).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

LOG_MODULES = {"DagProcessingLogs": "DAGProcessing", "SchedulerLogs": "Scheduler", "TaskLogs": "Task",
               "WebserverLogs": "WebServer", "WorkerLogs": "Worker"}
STATUSES = ("CREATING", "CREATE_FAILED", "AVAILABLE", "UPDATING", "DELETING", "DELETED", "UNAVAILABLE", "UPDATE_FAILED",
            "ROLLING_BACK", "CREATING_SNAPSHOT", "PENDING", "MAINTENANCE")  # botocore's EnvironmentStatus enum
_TAG_VALUE = re.compile(r"[^\w .:/=+\-@]")


class ApiError(Exception):
    """An error the API returns: code (x-amzn-ErrorType), HTTP status, message and extra members."""

    def __init__(self, code: str, message: str, status: int = 400, **members):
        super().__init__(message)
        self.code, self.status, self.members = code, status, members


def invalid(message: str) -> ApiError:
    return ApiError("ValidationException", message, 400)


def not_found(name: str) -> ApiError:
    return ApiError("ResourceNotFoundException", f"Environment {name} not found.", 404)


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
    # What the local MWAA wants a boto3 caller to see but the API has no field for: shown as `localmwaa:` tags.
    notes: dict = field(default_factory=dict)
    # The lifecycle's handles (never in a response): the operation that owns the environment now, what it runs.
    operation: object = field(default=None, repr=False)
    runtime: object = field(default=None, repr=False)
    sync: object = field(default=None, repr=False)
    objects: dict = field(default_factory=dict, repr=False)  # bucket/key -> version the running Airflow was made from

    @property
    def arn(self) -> str:
        return f"arn:aws:airflow:{self.region}:{self.account}:environment/{self.name}"

    def all_tags(self) -> dict:
        """The caller's tags and the emulator's notes (a tag value holds at most 256 of a limited set of characters)."""
        notes = {key: _TAG_VALUE.sub(" ", value)[:256] for key, value in self.notes.items() if value}
        sync_error = getattr(self.sync, "error", None)
        if sync_error:
            notes["localmwaa:dag-sync-error"] = _TAG_VALUE.sub(" ", sync_error)[:256]
        return {**self.tags, **notes}

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
            "WeeklyMaintenanceWindowStart": cfg["WeeklyMaintenanceWindowStart"], "Tags": self.all_tags(),
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
