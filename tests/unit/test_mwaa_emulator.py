"""The local MWAA emulator, driven only through the stock boto3 `mwaa` client against the local endpoint."""

from __future__ import annotations

import base64
import json
import time
import urllib.request

import boto3
import botocore.exceptions
import pytest

from helpers import localcloud
from helpers.aws import cleanup, cloud, mwaa, network, s3
from helpers.errors import WorkbookError
from helpers.procs import wait_until

NB = "tests-mwaa"


@pytest.fixture(scope="module")
def stack(module_cloud):
    """The module's local cloud, with MWAA prerequisites and an EventBridge rule -> SQS queue for events."""
    prereq = mwaa.create_prerequisites(NB, "tests-env")
    s3.upload_dag(prereq.bucket, "hello_mwaa.py")
    sqs, events = cloud.client("sqs"), cloud.client("events")
    queue = sqs.create_queue(QueueName="mwaa-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="mwaa-status", EventPattern=json.dumps(
        {"source": ["aws.airflow"], "detail-type": ["MWAA Environment Status Change"]}))
    events.put_targets(Rule="mwaa-status", Targets=[{"Id": "queue", "Arn": queue_arn}])
    return {"prereq": prereq, "queue": queue}


def events_for(stack, name: str, wanted: int, timeout: float = 30) -> list[dict]:
    """Status-change events of one environment received so far, in order (drains the queue)."""
    sqs = cloud.client("sqs")
    seen = stack.setdefault("events", [])
    deadline = time.monotonic() + timeout
    while True:
        for msg in sqs.receive_message(QueueUrl=stack["queue"], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            seen.append(json.loads(msg["Body"]))
            sqs.delete_message(QueueUrl=stack["queue"], ReceiptHandle=msg["ReceiptHandle"])
        mine = [e for e in seen if e["detail"]["name"] == name]
        if len(mine) >= wanted or time.monotonic() > deadline:
            return mine


def request(stack, name, **overrides) -> dict:
    return mwaa.environment_request(name, stack["prereq"], NB, **overrides)


def error_of(call) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_operations_on_a_missing_environment_are_not_found(stack):
    client = mwaa.client()
    assert error_of(lambda: client.get_environment(Name="nope"))[0] == "ResourceNotFoundException"
    assert error_of(lambda: client.delete_environment(Name="nope"))[0] == "ResourceNotFoundException"
    assert error_of(lambda: client.invoke_rest_api(Name="nope", Path="/dags", Method="GET"))[0] == "ResourceNotFoundException"
    assert client.list_environments()["Environments"] == []


def _second_vpc_group():
    other = network.create_private_network(f"{NB}-other", cidr="10.50.0.0/16")
    return other.security_group_ids


@pytest.mark.parametrize("change, message", [
    ({"Name": "9starts-with-digit"}, "Invalid environment name"),
    ({"ExecutionRoleArn": "arn:aws:iam::123456789012:role/no-such-role"}, "does not exist"),
    ({"ExecutionRoleArn": "not-an-arn"}, "Invalid ExecutionRoleArn"),
    ({"SourceBucketArn": "arn:aws:s3:::no-such-bucket"}, "SourceBucketArn arn:aws:s3:::no-such-bucket does not exist"),
    ({"DagS3Path": "/dags"}, "DagS3Path must be a path relative to the bucket"),
    ({"AirflowVersion": "1.10.12"}, "Invalid AirflowVersion '1.10.12'"),
    ({"AirflowVersion": "2.10.3"}, "Valid values: 3.0.6, 3.2.1, 3.3.1"),
    ({"AirflowConfigurationOptions": {"core.executor": "CeleryExecutor"}}, "'core.executor' is managed by Amazon MWAA"),
    ({"RequirementsS3Path": "s3://bucket/requirements.txt"}, "RequirementsS3Path must be a path relative to the bucket"),
    ({"EnvironmentClass": "mw1.huge"}, "Invalid EnvironmentClass"),
    ({"MinWorkers": 3, "MaxWorkers": 2}, "MinWorkers (3) must be at least 1 and at most MaxWorkers (2)"),
    ({"EnvironmentClass": "mw1.micro", "MaxWorkers": 2}, "MaxWorkers must be at most 1 for mw1.micro"),
    ({"Schedulers": 1}, "Schedulers must be between 2 and 5"),
    ({"AirflowConfigurationOptions": {"parallelism": "4"}}, "use 'section.option'"),
    ({"NetworkConfiguration": {"SubnetIds": ["subnet-0000000000000000a", "subnet-0000000000000000b"],
                               "SecurityGroupIds": ["sg-1"]}}, "do not all exist"),
    ("same-az", "different Availability Zones"),
    ("public", "Subnets must be private"),
    ("unknown-sg", "Security groups sg-00000000000000000 do not all exist"),
    ("other-vpc-sg", "Security groups must be in the subnets' VPC"),
    ("unversioned", "must have versioning enabled"),
])
def test_create_validates_like_aws(stack, change, message):
    prereq = stack["prereq"]
    ec2 = cloud.client("ec2")
    net = {"SubnetIds": prereq.network.subnet_ids, "SecurityGroupIds": prereq.network.security_group_ids}
    if change == "same-az":
        extra = ec2.create_subnet(VpcId=prereq.network.vpc_id, CidrBlock="10.192.99.0/24",
                                  AvailabilityZone=ec2.describe_subnets(SubnetIds=net["SubnetIds"][:1])["Subnets"][0]["AvailabilityZone"])
        change = {"NetworkConfiguration": {**net, "SubnetIds": [net["SubnetIds"][0], extra["Subnet"]["SubnetId"]]}}
    elif change == "public":
        extra = ec2.create_subnet(VpcId=prereq.network.vpc_id, CidrBlock="10.192.98.0/24", AvailabilityZone="us-east-1c")
        ec2.modify_subnet_attribute(SubnetId=extra["Subnet"]["SubnetId"], MapPublicIpOnLaunch={"Value": True})
        change = {"NetworkConfiguration": {**net, "SubnetIds": [net["SubnetIds"][0], extra["Subnet"]["SubnetId"]]}}
    elif change == "unknown-sg":
        change = {"NetworkConfiguration": {**net, "SecurityGroupIds": ["sg-00000000000000000"]}}
    elif change == "other-vpc-sg":
        change = {"NetworkConfiguration": {**net, "SecurityGroupIds": _second_vpc_group()}}
    elif change == "unversioned":
        cloud.client("s3").create_bucket(Bucket="tests-unversioned")
        change = {"SourceBucketArn": "arn:aws:s3:::tests-unversioned"}
    code, text = error_of(lambda: mwaa.client().create_environment(**request(stack, "invalid-env", **change)))
    assert code == "ValidationException"
    assert message in text
    assert mwaa.client().list_environments()["Environments"] == []


def test_botocore_rejects_a_single_subnet_before_sending(stack):
    prereq = stack["prereq"]
    bad = {"SubnetIds": prereq.network.subnet_ids[:1], "SecurityGroupIds": prereq.network.security_group_ids}
    with pytest.raises(botocore.exceptions.ParamValidationError):
        mwaa.client().create_environment(**request(stack, "one-subnet", NetworkConfiguration=bad))


def test_customer_endpoints_lifecycle_events_api_and_deletion(stack):
    try:
        _lifecycle(stack, "tests-env")
    finally:
        if mwaa.status("tests-env") not in (None, "DELETING"):
            mwaa.delete_environment("tests-env")


def _lifecycle(stack, name):
    client, ec2 = mwaa.client(), cloud.client("ec2")
    arn = client.create_environment(**request(stack, name, EndpointManagement="CUSTOMER", WebserverAccessMode="PRIVATE_ONLY",
                                              Tags={"team": "data", "workbook": "mwaa-workbook"}))["Arn"]
    assert arn == f"arn:aws:airflow:us-east-1:123456789012:environment/{name}"
    assert error_of(lambda: client.create_environment(**request(stack, name)))[1] == f"Environment {name} already exists."

    # Customer-managed endpoints: PENDING until both endpoints exist in the environment's VPC.
    mwaa.wait_for_status(name, "PENDING", timeout=30)
    env = client.get_environment(Name=name)["Environment"]
    pending = events_for(stack, name, 2)[-1]
    assert (pending["source"], pending["detail-type"]) == ("aws.airflow", "MWAA Environment Status Change")
    detail = pending["detail"]
    assert detail["status"] == "PENDING" and detail["webserverAccessMode"] == "PRIVATE_ONLY"
    assert detail["celeryExecutorQueue"] == env["CeleryExecutorQueue"] and env["CeleryExecutorQueue"].startswith("arn:aws:sqs:")
    assert detail["databaseVpcEndpointService"] == env["DatabaseVpcEndpointService"]
    assert detail["networkConfiguration"]["subnetIds"] == stack["prereq"].network.subnet_ids
    vpc, subnets = stack["prereq"].network.vpc_id, stack["prereq"].network.subnet_ids
    ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=env["DatabaseVpcEndpointService"], VpcEndpointType="Interface",
                            SubnetIds=subnets)
    time.sleep(2.5)
    assert mwaa.status(name) == "PENDING"  # the web server endpoint is still missing
    ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=env["WebserverVpcEndpointService"], VpcEndpointType="Interface",
                            SubnetIds=subnets)
    started = time.monotonic()
    mwaa.wait_for_status(name, "AVAILABLE", timeout=120)
    # The 30 s budget is measured on a quiet machine by `make bench` (tests/test_readme_measured.py checks the
    # recorded figure); here the notebook lanes run beside this test, so only a gross regression fails it.
    assert time.monotonic() - started <= 90, "CreateEnvironment -> AVAILABLE took over 90 s"
    statuses = [e["detail"]["status"] for e in events_for(stack, name, 4)]
    assert statuses == ["CREATING", "PENDING", "CREATING", "AVAILABLE"]

    env = client.get_environment(Name=name)["Environment"]
    assert env["WebserverUrl"].startswith("127.0.0.1:")
    assert env["LoggingConfiguration"]["TaskLogs"]["CloudWatchLogGroupArn"].endswith(f"log-group:airflow-{name}-Task")
    # Nothing emulated to note (3.0.6 running as itself: test_mwaa_upgrade.py); the workbook's network reaches AWS
    # services through its endpoints.
    notes = {k: env["Tags"].pop(k) for k in list(env["Tags"]) if k.startswith("localmwaa:")}
    assert env["Tags"] == {"team": "data", "workbook": "mwaa-workbook"}
    assert notes == {}
    assert client.list_environments()["Environments"] == [name]

    # Tags
    client.tag_resource(ResourceArn=arn, Tags={"stage": "test"})
    client.untag_resource(ResourceArn=arn, tagKeys=["team"])
    tags = client.list_tags_for_resource(ResourceArn=arn)["Tags"]
    assert {k: v for k, v in tags.items() if not k.startswith("localmwaa:")} == {"workbook": "mwaa-workbook", "stage": "test"}

    # DAGs from S3, triggered and read through InvokeRestApi; task logs land in CloudWatch.
    api = mwaa.AirflowApi(name)
    assert api.wait_for_dag("hello_mwaa", timeout=30) <= 5
    run_id, state = api.run("hello_mwaa", {"bucket": stack["prereq"].bucket}, timeout=120)
    assert state == "success"
    assert api.xcom("hello_mwaa", run_id, "summarize")["dag_files"] == 1
    assert any("found s3://" in line for line in api.task_log("hello_mwaa", run_id, "list_dag_files"))
    streams = cloud.client("logs").describe_log_streams(logGroupName=f"airflow-{name}-Task")["logStreams"]
    assert any("task_id=list_dag_files" in s["logStreamName"] for s in streams)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client.invoke_rest_api(Name=name, Path="/dags/no_such_dag", Method="GET")
    assert err.value.response["Error"]["Code"] == "RestApiClientException"
    assert err.value.response["RestApiStatusCode"] == 404

    # A DAG file that does not import: wait_for_dag's timeout names the file and the error.
    broken = b"from airflow.sdk import dag\n\ndef broken(:\n"  # names airflow and dag, or safe mode skips the file
    cloud.client("s3").put_object(Bucket=stack["prereq"].bucket, Key="dags/broken_dag.py", Body=broken)
    wait_until(lambda: any(name == "broken_dag.py" for name, _ in api.import_errors()), 90, "the import error parsed")
    with pytest.raises(WorkbookError) as err:
        api.wait_for_dag("broken_dag", timeout=2)
    assert "Import error in broken_dag.py" in str(err.value) and "SyntaxError" in str(err.value), str(err.value)
    cloud.client("s3").delete_object(Bucket=stack["prereq"].bucket, Key="dags/broken_dag.py")

    # A DAG deleted from S3 leaves the environment.
    cloud.client("s3").delete_object(Bucket=stack["prereq"].bucket, Key="dags/hello_mwaa.py")
    api.wait_for_dag("hello_mwaa", present=False, timeout=30)

    # Tokens: the web token works against the API server; the CLI token runs allowed CLI commands.
    web = client.create_web_login_token(Name=name)
    request_ = urllib.request.Request(f"http://{web['WebServerHostname']}/api/v2/version",
                                      headers={"Authorization": f"Bearer {web['WebToken']}"})
    assert json.load(urllib.request.urlopen(request_, timeout=10))["version"] == "3.3.1"
    cli = client.create_cli_token(Name=name)
    cli_call = urllib.request.Request(f"http://{cli['WebServerHostname']}/aws_mwaa/cli", data=b"version", method="POST",
                                      headers={"Authorization": f"Bearer {cli['CliToken']}", "Content-Type": "text/plain"})
    out = json.load(urllib.request.urlopen(cli_call, timeout=60))
    assert base64.b64decode(out["stdout"]).decode().strip() == "3.3.1"

    # Updates: a configuration change restarts Airflow with it (version upgrades: test_mwaa_upgrade.py).
    client.update_environment(Name=name, AirflowConfigurationOptions={"core.default_timezone": "utc"})
    assert mwaa.status(name) == "UPDATING"
    mwaa.wait_for_status(name, "AVAILABLE", timeout=120)
    updated = client.get_environment(Name=name)["Environment"]
    assert (updated["AirflowVersion"], updated["LastUpdate"]["Status"]) == ("3.3.1", "SUCCESS")
    assert updated["AirflowConfigurationOptions"] == {"core.default_timezone": "utc"}

    # Delete: processes stopped by PID, the queue gone, DELETING and DELETED events.
    queue_arn = env["CeleryExecutorQueue"]
    assert cleanup.airflow_processes(name)
    client.delete_environment(Name=name)
    mwaa.wait_for_status(name, "DELETED", timeout=60)
    assert cleanup.airflow_processes(name) == []
    assert queue_arn.rsplit(":", 1)[1] not in str(cloud.client("sqs").list_queues().get("QueueUrls", []))
    assert [e["detail"]["status"] for e in events_for(stack, name, 8)][-2:] == ["DELETING", "DELETED"]


def test_pending_environment_times_out_to_create_failed(stack):
    endpoint = localcloud.endpoint()
    set_timeout = urllib.request.Request(f"{endpoint}/_workbook/mwaa/config", method="POST",
                                         data=json.dumps({"pending_timeout_seconds": 2}).encode())
    urllib.request.urlopen(set_timeout, timeout=10)
    try:
        mwaa.client().create_environment(**request(stack, "never-gets-endpoints", EndpointManagement="CUSTOMER"))
        wait_until(lambda: mwaa.status("never-gets-endpoints") == "CREATE_FAILED", 30, "timeout")
        error = mwaa.describe("never-gets-endpoints")["LastUpdate"]["Error"]
        assert error["ErrorMessage"] == "The VPC endpoints for the environment were not created in time."
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/_workbook/mwaa/config", method="POST",
                                                      data=json.dumps({"pending_timeout_seconds": 259200}).encode()))
    mwaa.delete_environment("never-gets-endpoints")


def test_airflow_that_cannot_start_ends_create_failed_with_no_process_left(stack):
    name = "broken-config"
    mwaa.client().create_environment(**request(stack, name, AirflowConfigurationOptions={"core.parallelism": "many"}))
    with pytest.raises(Exception, match=r"CREATE_FAILED: Airflow \S+ exited"):
        mwaa.wait_for_status(name, "AVAILABLE", timeout=120)
    assert cleanup.airflow_processes(name) == []
    mwaa.delete_environment(name)
    assert mwaa.status(name) is None


def test_stock_boto3_client_from_env_exports_reaches_the_emulator(stack, monkeypatch):
    for key, value in localcloud.exports().items():
        monkeypatch.setenv(key, value)
    plain = boto3.client("mwaa")  # no endpoint, credentials or host-prefix config in code
    assert "Environments" in plain.list_environments()
