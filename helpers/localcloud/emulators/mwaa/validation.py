"""What CreateEnvironment and UpdateEnvironment accept, checked as MWAA checks it (ValidationException, HTTP 400).

Two layers, in the order AWS reports them: the request's shape (no other service needed), then the account's
resources (IAM role and its trust, S3 bucket, EC2 subnets, route tables and security groups).

Where the local MWAA differs from AWS (also in README, "Local MWAA"):
- Only the Airflow 3 versions MWAA publishes images for are accepted; each runs as itself, in its own virtual
  environment (`versions`).
- Blocked configuration options: MWAA refuses options it manages itself; `BLOCKED_OPTIONS` is our list of them
  (executor, metadata DB, Celery broker/result backend, secret and JWT keys, folders, remote logging, the API
  server's bind settings). MWAA's exact list and wording are not published in full; ours may differ at the edges.
- Requirements, plugins and startup scripts are installed or run (`requirements`, `plugins`, `startup_script`);
  their S3 objects are read when the environment starts, and one that cannot be read fails it.
- A subnet routing 0.0.0.0/0 to an internet gateway is public and refused; a VPC with no NAT route and no VPC
  endpoint cannot reach AWS services (creation fails on AWS after about an hour): locally it is a warning tag.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import urllib.parse

import botocore.exceptions

from helpers.localcloud.emulators.mwaa.model import invalid

# The Airflow versions MWAA runs as images (aws/amazon-mwaa-docker-images, /work/shared/mwaa/<version>/), Airflow 3
# only: the workbook is written for Airflow 3. Each runs as itself locally (versions.python_for).
AIRFLOW_VERSIONS = ("3.0.6", "3.2.1", "3.3.1")
INSTALLED_AIRFLOW = importlib.metadata.version("apache-airflow")  # pinned to an MWAA image's (requirements/)
LATEST_VERSION = AIRFLOW_VERSIONS[-1]
ENVIRONMENT_CLASSES = ("mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge")
LOG_MODULES = ("DagProcessingLogs", "SchedulerLogs", "TaskLogs", "WebserverLogs", "WorkerLogs")
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
TRUSTED_SERVICES = ("airflow.amazonaws.com", "airflow-env.amazonaws.com")
S3_PATHS = ("PluginsS3Path", "RequirementsS3Path", "StartupScriptS3Path")
# Options MWAA sets itself and does not let AirflowConfigurationOptions override. "section.*" blocks a section.
BLOCKED_OPTIONS = (
    "core.executor", "core.sql_alchemy_conn", "database.sql_alchemy_conn", "database.sql_alchemy_conn_cmd",
    "database.sql_alchemy_conn_secret", "core.fernet_key", "core.fernet_key_cmd", "core.fernet_key_secret",
    "core.dags_folder", "core.plugins_folder", "core.load_examples", "core.execution_api_server_url",
    "core.simple_auth_manager_users", "core.simple_auth_manager_passwords_file", "core.auth_manager",
    "celery.broker_url", "celery.broker_url_cmd", "celery.broker_url_secret", "celery.result_backend",
    "celery.result_backend_cmd", "celery.result_backend_secret", "celery.default_queue", "celery_broker_transport_options.*",
    "webserver.secret_key", "webserver.secret_key_cmd", "webserver.secret_key_secret", "api.secret_key",
    "api.host", "api.port", "api.base_url", "api.workers", "api_auth.*", "execution_api.*",
    "logging.remote_logging", "logging.remote_base_log_folder", "logging.remote_log_conn_id", "logging.base_log_folder",
    "logging.logging_config_class", "logging.task_log_reader", "logging.dag_processor_child_process_log_directory",
    "dag_processor.dag_bundle_config_list", "dag_processor.dag_bundle_storage_path", "cli.*",
)
UPDATABLE = {"ExecutionRoleArn", "AirflowConfigurationOptions", "AirflowVersion", "DagS3Path", "EnvironmentClass",
             "LoggingConfiguration", "MaxWorkers", "MinWorkers", "MaxWebservers", "MinWebservers", "NetworkConfiguration",
             "PluginsS3Path", "PluginsS3ObjectVersion", "RequirementsS3Path", "RequirementsS3ObjectVersion", "Schedulers",
             "SourceBucketArn", "StartupScriptS3Path", "StartupScriptS3ObjectVersion", "WebserverAccessMode",
             "WeeklyMaintenanceWindowStart"}
_NAME = re.compile(r"^[a-zA-Z][0-9a-zA-Z\-_]*$")
_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)?:iam::(\d{12}):role/?([a-zA-Z_0-9+=,.@\-_/]+)$")
_BUCKET_ARN = re.compile(r"^arn:aws(-[a-z]+)?:s3:::([a-z0-9.\-]+)$")
_CONFIG_KEY = re.compile(r"^[a-z]+([a-z0-9._]*[a-z0-9_]+)?$")


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def check_version(version: str) -> None:
    if version not in AIRFLOW_VERSIONS:
        raise invalid(f"Invalid AirflowVersion {version!r}. Valid values: {', '.join(AIRFLOW_VERSIONS)} "
                      "(the local MWAA runs Airflow 3 only).")


def check_upgrade(old: str, new: str) -> None:
    check_version(new)
    if version_tuple(new) < version_tuple(old):
        raise invalid(f"Airflow version {old} does not support updates to version {new}: "
                      "Airflow version can only be upgraded; this is a downgrade.")


def blocked(option: str) -> bool:
    section = option.split(".", 1)[0]
    return option in BLOCKED_OPTIONS or f"{section}.*" in BLOCKED_OPTIONS


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
    check_version(cfg["AirflowVersion"])
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
        if blocked(key):
            raise invalid(f"The Apache Airflow configuration option {key!r} is managed by Amazon MWAA and cannot be set "
                          "in AirflowConfigurationOptions.")
        if not isinstance(value, str) or not value:
            raise invalid(f"AirflowConfigurationOptions value for {key!r} must be a non-empty string.")
    for module, setting in cfg["LoggingConfiguration"].items():
        if module not in LOG_MODULES:
            raise invalid(f"Unknown LoggingConfiguration module {module!r}.")
        if setting["LogLevel"] not in LOG_LEVELS:
            raise invalid(f"Invalid LogLevel {setting['LogLevel']!r} for {module}.")
    for key in ("DagS3Path", *S3_PATHS):
        path = cfg.get(key)
        if path is not None and (not path or path.startswith(("/", "s3://"))):
            raise invalid(f"{key} must be a path relative to the bucket, e.g. 'dags', not {path!r}.")


def validate_name(name: str) -> None:
    if not 1 <= len(name) <= 80 or not _NAME.match(name):
        raise invalid(f"Invalid environment name {name!r}: 1-80 characters, a letter first, then letters, digits, - or _.")


def role_parts(arn: str) -> tuple[str, str]:
    """(account, role name) of an execution role ARN."""
    match = _ROLE_ARN.match(arn or "")
    if not match:
        raise invalid(f"Invalid ExecutionRoleArn {arn!r}: expected arn:aws:iam::<account>:role/<name>.")
    return match.group(2), match.group(3).rsplit("/", 1)[-1]


def bucket_name(arn: str) -> str:
    match = _BUCKET_ARN.match(arn or "")
    if not match:
        raise invalid(f"Invalid SourceBucketArn {arn!r}: expected arn:aws:s3:::<bucket>.")
    return match.group(2)


def _trusted_services(document) -> set[str]:
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    found: set[str] = set()
    for statement in document.get("Statement", []):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") != "Allow" or not {"sts:AssumeRole", "sts:*", "*"} & set(actions):
            continue
        services = (statement.get("Principal") or {}).get("Service", [])
        found |= {services} if isinstance(services, str) else set(services)
    return found


def validate_resources(clients, cfg: dict, account: str) -> tuple[str, list[str]]:
    """Checks against the local cloud, like AWS checks against your account.

    `clients(service)` gives a boto3 client in the request's region. Returns the VPC id and warnings: what
    would make the environment fail on AWS but does not stop the local one.
    """
    iam, s3, ec2 = clients("iam"), clients("s3"), clients("ec2")
    role_account, role = role_parts(cfg["ExecutionRoleArn"])
    if role_account != account:
        raise invalid(f"ExecutionRoleArn {cfg['ExecutionRoleArn']} is in account {role_account}; "
                      f"the environment's account is {account}.")
    try:
        trust = iam.get_role(RoleName=role)["Role"].get("AssumeRolePolicyDocument") or {}
    except botocore.exceptions.ClientError:
        raise invalid(f"ExecutionRoleArn {cfg['ExecutionRoleArn']} does not exist.") from None
    missing = [s for s in TRUSTED_SERVICES if s not in _trusted_services(trust)]
    if missing:
        raise invalid(f"The execution role {role} must trust {' and '.join(TRUSTED_SERVICES)} (sts:AssumeRole) "
                      f"in its trust policy; it does not trust {', '.join(missing)}.")
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
    vpc_id = subnets[0]["VpcId"]
    public = [s["SubnetId"] for s in subnets if s.get("MapPublicIpOnLaunch")]
    if public:
        raise invalid(f"Subnets must be private; {', '.join(public)} assigns public IP addresses.")
    routes = _default_routes(ec2, vpc_id, subnet_ids)
    public = [sid for sid in subnet_ids if any(r.get("GatewayId", "").startswith("igw-") for r in routes[sid])]
    if public:
        raise invalid(f"Subnets must be private; {', '.join(public)} routes 0.0.0.0/0 to an internet gateway.")
    try:
        groups = ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
    except botocore.exceptions.ClientError:
        raise invalid(f"Security groups {', '.join(group_ids)} do not all exist.") from None
    if {g["VpcId"] for g in groups} != {vpc_id}:
        raise invalid("Security groups must be in the subnets' VPC.")
    warnings = []
    nat = all(any(r.get("NatGatewayId") for r in routes[sid]) for sid in subnet_ids)
    endpoints = [e for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
                 if e.get("State", "available").lower() not in ("deleted", "deleting")]
    if not nat and not endpoints:
        warnings.append(f"On AWS this environment would fail to create: its subnets in {vpc_id} have no NAT gateway route "
                        "and the VPC has no VPC endpoints, so it cannot reach S3, SQS, CloudWatch or KMS.")
    return vpc_id, warnings


def _default_routes(ec2, vpc_id: str, subnet_ids: list[str]) -> dict[str, list[dict]]:
    """Each subnet's 0.0.0.0/0 routes, from its explicitly associated route table or else the VPC's main table."""
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    main, explicit = None, {}
    for table in tables:
        for assoc in table.get("Associations", []):
            if assoc.get("Main"):
                main = table
            elif assoc.get("SubnetId"):
                explicit[assoc["SubnetId"]] = table
    result = {}
    for sid in subnet_ids:
        table = explicit.get(sid, main) or {}
        result[sid] = [r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    return result


def check_update(env_config: dict, request: dict) -> dict:
    """The environment's configuration after an UpdateEnvironment request (validated by the caller)."""
    unknown = set(request) - UPDATABLE - {"Name", "WorkerReplacementStrategy"}
    if unknown:
        raise invalid(f"Cannot update {', '.join(sorted(unknown))}.")
    cfg = dict(env_config)
    new_version = request.get("AirflowVersion")
    if new_version and new_version != cfg["AirflowVersion"]:
        check_upgrade(cfg["AirflowVersion"], new_version)
    if "NetworkConfiguration" in request:
        if set(request["NetworkConfiguration"]) - {"SecurityGroupIds"}:
            raise invalid("Only NetworkConfiguration.SecurityGroupIds can be updated.")
        request = {**request, "NetworkConfiguration": {**cfg["NetworkConfiguration"], **request["NetworkConfiguration"]}}
    for key, value in request.items():
        if key in UPDATABLE:
            cfg[key] = value
    return with_defaults(cfg)

