"""The local cloud's EMR: steps really run, in order, with EMR's states, failure details and logs. Pure parts
directly, the rest through boto3 (and the amazon provider's EmrHook) against one local cloud shared by this module."""

from __future__ import annotations

import gzip
import time
import uuid
from types import SimpleNamespace

import pytest

from helpers.localcloud.emulators.emr import commands, lifecycle

PYTHON = "/venv/bin/python"
BUCKET = "tests-emr"


# --- pure parts ------------------------------------------------------------------------------------------------

def test_spark_submit_runs_the_python_application_with_plain_python():
    plan = commands.plan("command-runner.jar", [
        "spark-submit", "--deploy-mode", "cluster", "--conf", "spark.executor.memory=2g", "--master=yarn", "--verbose",
        "--conf", "spark.yarn.appMasterEnv.STAGE=dev", "--conf=spark.executorEnv.TOKEN=a=b",
        "--py-files", "s3://b/lib/util.zip,s3://b/lib/helpers.py", "--files", "s3a://b/conf/app.json",
        "s3://b/jobs/etl.py", "--day", "2026-01-01"], PYTHON, "/usr/bin:/bin")
    assert plan.argv == [PYTHON, "etl.py", "--day", "2026-01-01"]
    assert plan.downloads == {"s3://b/jobs/etl.py": "etl.py", "s3://b/lib/util.zip": "util.zip",
                              "s3://b/lib/helpers.py": "helpers.py", "s3a://b/conf/app.json": "app.json"}
    assert plan.pythonpath == ["util.zip", "helpers.py"]
    assert plan.note == "emulated: spark-submit ran with plain Python, no Spark"
    assert plan.env == {"STAGE": "dev", "TOKEN": "a=b"}


def test_bash_and_script_runner_steps():
    bash = commands.plan("/usr/share/aws/emr/command-runner/lib/command-runner.jar", ["bash", "-c", "echo hi"], PYTHON,
                         "/usr/bin:/bin")
    assert (bash.argv, bash.downloads, bash.note) == (["bash", "-c", "echo hi"], {}, None)
    script = commands.plan("s3://us-east-1.elasticmapreduce/libs/script-runner/script-runner.jar",
                           ["s3://b/setup.sh", "--fast"], PYTHON, "/usr/bin:/bin")
    assert (script.argv, script.downloads) == (["./setup.sh", "--fast"], {"s3://b/setup.sh": "setup.sh"})


@pytest.mark.parametrize(("jar", "args", "reason"), [
    ("s3://b/app.jar", ["x"], "cannot run s3://b/app.jar"),
    ("command-runner.jar", ["spark-submit", "--class", "Main", "s3://b/app.jar"], "JVM application (s3://b/app.jar)"),
    ("command-runner.jar", ["hive-script", "--run-hive-script"], "hive-script is an EMR application"),
    ("command-runner.jar", ["no-such-tool-here"], "no-such-tool-here: command not found"),
    ("command-runner.jar", [], "needs a command"),
    ("script-runner.jar", ["/home/hadoop/x.sh"], "needs an s3:// script"),
    ("command-runner.jar", ["spark-submit", "--master"], "--master needs a value"),
])
def test_steps_the_local_emr_cannot_run_say_why(jar, args, reason):
    with pytest.raises(commands.Unsupported) as error:
        commands.plan(jar, args, PYTHON, "/usr/bin:/bin")
    assert reason in str(error.value)


def _simulate(actions: list[str], failing: set[int], keep_alive=False, protected=False):
    """Run a cluster's steps through the lifecycle as the runner does, the steps at `failing` failing."""
    steps = [SimpleNamespace(id=f"s-{n}", state="PENDING", action_on_failure=a) for n, a in enumerate(actions)]
    cluster = SimpleNamespace(id="j-1", state="STARTING", steps=steps, keep_job_flow_alive_when_no_steps=keep_alive,
                              termination_protected=protected)
    while (step := lifecycle.next_step(cluster)) is not None:
        lifecycle.start_step(cluster, step)
        assert cluster.state == step.state == "RUNNING"
        ending = lifecycle.finish_step(cluster, step, {"Reason": "boom"} if int(step.id[2:]) in failing else None)
        if ending:
            lifecycle.begin_ending(cluster, ending)
            break
    else:
        ending = lifecycle.when_idle(cluster)
        if ending:
            lifecycle.begin_ending(cluster, ending)
        else:
            lifecycle.wait(cluster)
    if cluster.state == "TERMINATING":
        lifecycle.end(cluster)
    return [s.state for s in steps], cluster.state, cluster.workbook_reason


@pytest.mark.parametrize(("actions", "failing", "options", "expected"), [
    (["TERMINATE_CLUSTER"] * 3, {0}, {}, (["FAILED", "CANCELLED", "CANCELLED"], "TERMINATED_WITH_ERRORS",
                                         {"Code": "STEP_FAILURE", "Message": "Shut down as step failed"})),
    (["CONTINUE", "CONTINUE"], {0}, {}, (["FAILED", "COMPLETED"], "TERMINATED",
                                         {"Code": "ALL_STEPS_COMPLETED", "Message": "Steps completed with errors"})),
    (["CONTINUE", "CONTINUE"], set(), {}, (["COMPLETED", "COMPLETED"], "TERMINATED",
                                           {"Code": "ALL_STEPS_COMPLETED", "Message": "Steps completed"})),
    (["CANCEL_AND_WAIT", "CONTINUE"], {0}, {"keep_alive": True}, (
        ["FAILED", "CANCELLED"], "WAITING", {"Code": None, "Message": "Cluster ready after last step completed."})),
    # EMR: a protected cluster that is kept alive waits instead of shutting down; auto-terminate still shuts it down.
    (["TERMINATE_JOB_FLOW", "CONTINUE"], {0}, {"keep_alive": True, "protected": True}, (
        ["FAILED", "CANCELLED"], "WAITING", {"Code": None, "Message": "Cluster ready after last step completed."})),
    (["TERMINATE_CLUSTER"], {0}, {"protected": True}, (["FAILED"], "TERMINATED_WITH_ERRORS",
                                                       {"Code": "STEP_FAILURE", "Message": "Shut down as step failed"})),
    ([], set(), {"keep_alive": True}, ([], "WAITING", {"Code": None, "Message": "Cluster ready to run steps."})),
])
def test_action_on_failure_and_auto_termination(actions, failing, options, expected):
    assert _simulate(actions, failing, **options) == expected


def test_failure_details_name_the_root_cause_and_the_log():
    stderr = ["Traceback (most recent call last):", '  File "etl.py", line 3, in <module>', "ValueError: no rows", ""]
    details = lifecycle.failure_details(stderr, 1, "s3://b/logs/j-1/steps/s-1/stderr.gz")
    assert details["Reason"] == "ValueError: no rows"
    assert details["Message"].endswith("ValueError: no rows\nStep exited with code 1")
    assert details["LogFile"] == "s3://b/logs/j-1/steps/s-1/stderr.gz"
    assert lifecycle.failure_details([], 137, None) == {"Reason": "Unknown Error.", "Message": "Step exited with code 137"}


# --- through the local cloud ---------------------------------------------------------------------------------------

OK_SCRIPT = b"""import sys
import boto3

print(f"correlation_id={sys.argv[1]} rows=3")
boto3.client("s3").put_object(Bucket="tests-emr", Key=f"out/{sys.argv[1]}.txt", Body=b"written by the step")
"""
FAILING_SCRIPT = b"""import sys

print("starting")
raise ValueError(f"no rows for {sys.argv[1]}")
"""


@pytest.fixture(scope="module")
def emr(module_cloud):
    from helpers.aws import cloud

    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="jobs/ok.py", Body=OK_SCRIPT)
    s3.put_object(Bucket=BUCKET, Key="jobs/failing.py", Body=FAILING_SCRIPT)
    return SimpleNamespace(emr=cloud.client("emr"), s3=s3, logs=cloud.client("logs"))


def spark_step(script: str, argument: str, action: str) -> dict:
    return {"Name": f"{script} {argument}", "ActionOnFailure": action, "HadoopJarStep": {
        "Jar": "command-runner.jar",
        "Args": ["spark-submit", "--deploy-mode", "cluster", f"s3://{BUCKET}/jobs/{script}.py", argument]}}


def bash_step(command: str, action: str = "CONTINUE") -> dict:
    return {"Name": "bash", "ActionOnFailure": action,
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["bash", "-c", command]}}


def start_cluster(emr, name: str, steps: list[dict], keep_alive: bool) -> str:
    return emr.run_job_flow(
        Name=name, LogUri=f"s3://{BUCKET}/logs/", ReleaseLabel="emr-7.1.0", JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole", Steps=steps,
        Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": keep_alive},
    )["JobFlowId"]


def until(read, done, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        assert time.monotonic() < deadline, f"still {value}"
        time.sleep(0.2)
    return value


def cluster_status(emr, cluster_id: str) -> dict:
    return emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]


def step_states(emr, cluster_id: str) -> list[str]:
    return [s["Status"]["State"] for s in reversed(emr.list_steps(ClusterId=cluster_id)["Steps"])]


def s3_log(s3, cluster_id: str, step_id: str, name: str) -> list[str]:
    body = s3.get_object(Bucket=BUCKET, Key=f"logs/{cluster_id}/steps/{step_id}/{name}.gz")["Body"].read()
    return gzip.decompress(body).decode().splitlines()


def test_a_spark_submit_step_runs_logs_and_the_cluster_auto_terminates(emr):
    correlation = f"corr-{uuid.uuid4().hex[:8]}"
    cluster_id = start_cluster(emr.emr, "tests-emr-ok", [spark_step("ok", correlation, "TERMINATE_CLUSTER")], False)
    [step] = emr.emr.list_steps(ClusterId=cluster_id)["Steps"]
    assert step["Status"]["State"] == "PENDING"
    assert cluster_status(emr.emr, cluster_id)["State"] in ("STARTING", "BOOTSTRAPPING")

    fast = {"Delay": 1, "MaxAttempts": 30}
    emr.emr.get_waiter("step_complete").wait(ClusterId=cluster_id, StepId=step["Id"], WaiterConfig=fast)
    emr.emr.get_waiter("cluster_terminated").wait(ClusterId=cluster_id, WaiterConfig=fast)

    status = emr.emr.describe_step(ClusterId=cluster_id, StepId=step["Id"])["Step"]["Status"]
    assert status["State"] == "COMPLETED" and "FailureDetails" not in status
    timeline = status["Timeline"]
    assert timeline["CreationDateTime"] <= timeline["StartDateTime"] <= timeline["EndDateTime"]
    cluster = cluster_status(emr.emr, cluster_id)
    assert cluster["StateChangeReason"] == {"Code": "ALL_STEPS_COMPLETED", "Message": "Steps completed"}
    assert cluster["Timeline"]["ReadyDateTime"] <= timeline["StartDateTime"]
    assert timeline["EndDateTime"] <= cluster["Timeline"]["EndDateTime"]

    line = f"correlation_id={correlation} rows=3"
    assert s3_log(emr.s3, cluster_id, step["Id"], "stdout") == [line]
    assert s3_log(emr.s3, cluster_id, step["Id"], "stderr")[0] == "emulated: spark-submit ran with plain Python, no Spark"
    events = emr.logs.get_log_events(logGroupName=f"/aws/emr/{cluster_id}", logStreamName=f"steps/{step['Id']}/stdout")
    assert [e["message"] for e in events["events"]] == [line]
    # the step's boto3 reached the local cloud
    assert emr.s3.get_object(Bucket=BUCKET, Key=f"out/{correlation}.txt")["Body"].read() == b"written by the step"


def test_a_failing_step_with_terminate_cluster_ends_the_cluster_with_errors(emr):
    cluster_id = start_cluster(emr.emr, "tests-emr-fail", [spark_step("failing", "2026-01-02", "TERMINATE_CLUSTER"),
                                                            spark_step("ok", "never", "CONTINUE")], False)
    status = until(lambda: cluster_status(emr.emr, cluster_id), lambda s: s["State"].startswith("TERMINATED"))
    assert status["State"] == "TERMINATED_WITH_ERRORS"
    assert status["StateChangeReason"] == {"Code": "STEP_FAILURE", "Message": "Shut down as step failed"}
    assert step_states(emr.emr, cluster_id) == ["FAILED", "CANCELLED"]
    failed = emr.emr.list_steps(ClusterId=cluster_id, StepStates=["FAILED"])["Steps"][0]
    details = failed["Status"]["FailureDetails"]
    assert details["Reason"] == "ValueError: no rows for 2026-01-02"
    assert details["LogFile"] == f"s3://{BUCKET}/logs/{cluster_id}/steps/{failed['Id']}/stderr.gz"
    assert "Traceback (most recent call last):" in s3_log(emr.s3, cluster_id, failed["Id"], "stderr")
    assert s3_log(emr.s3, cluster_id, failed["Id"], "stdout") == ["starting"]


def test_a_kept_alive_cluster_continues_cancels_waits_and_terminates_on_request(emr):
    cluster_id = start_cluster(emr.emr, "tests-emr-alive", [
        spark_step("failing", "x", "CONTINUE"), bash_step('test -n "$AWS_ENDPOINT_URL" && echo second ran')], True)
    until(lambda: step_states(emr.emr, cluster_id), lambda s: s[-1] == "COMPLETED")
    assert step_states(emr.emr, cluster_id) == ["FAILED", "COMPLETED"]
    status = until(lambda: cluster_status(emr.emr, cluster_id), lambda s: s["State"] == "WAITING")
    assert status["StateChangeReason"] == {"Message": "Cluster ready after last step completed."}

    emr.emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[
        {"Name": "jvm", "ActionOnFailure": "CANCEL_AND_WAIT", "HadoopJarStep": {"Jar": f"s3://{BUCKET}/jars/app.jar"}},
        bash_step("echo never")])
    until(lambda: step_states(emr.emr, cluster_id), lambda s: s[-1] == "CANCELLED")
    assert step_states(emr.emr, cluster_id) == ["FAILED", "COMPLETED", "FAILED", "CANCELLED"]
    jvm = emr.emr.list_steps(ClusterId=cluster_id)["Steps"][1]
    assert f"cannot run s3://{BUCKET}/jars/app.jar" in jvm["Status"]["FailureDetails"]["Reason"]
    assert until(lambda: cluster_status(emr.emr, cluster_id), lambda s: s["State"] == "WAITING")

    emr.emr.terminate_job_flows(JobFlowIds=[cluster_id])
    status = until(lambda: cluster_status(emr.emr, cluster_id), lambda s: s["State"] == "TERMINATED")
    assert status["StateChangeReason"] == {"Code": "USER_REQUEST", "Message": "Terminated by user request"}
    with pytest.raises(emr.emr.exceptions.ClientError) as error:
        emr.emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[bash_step("echo late")])
    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_the_airflow_providers_emr_hook_waits_for_steps_and_termination(emr, module_cloud):
    from helpers.aws import cloud

    module_cloud.patch.setenv("AIRFLOW_CONN_AWS_DEFAULT", cloud.airflow_aws_connection())
    from airflow.providers.amazon.aws.hooks.emr import EmrHook

    hook = EmrHook(aws_conn_id="aws_default", emr_conn_id=None)
    cluster_id = hook.create_job_flow({
        "Name": "tests-emr-airflow", "LogUri": f"s3://{BUCKET}/logs/", "ReleaseLabel": "emr-7.1.0",
        "Instances": {"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True}})["JobFlowId"]
    [step_id] = hook.add_job_flow_steps(cluster_id, [spark_step("ok", "from-airflow", "CANCEL_AND_WAIT")],
                                        wait_for_completion=True, waiter_delay=1, waiter_max_attempts=30)
    assert hook.conn.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Status"]["State"] == "COMPLETED"
    hook.conn.terminate_job_flows(JobFlowIds=[cluster_id])
    hook.conn.get_waiter("cluster_terminated").wait(ClusterId=cluster_id, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert cluster_status(hook.conn, cluster_id)["StateChangeReason"]["Code"] == "USER_REQUEST"


def test_script_runner_runs_an_s3_script_and_termination_stops_a_running_step(emr):
    emr.s3.put_object(Bucket=BUCKET, Key="scripts/hello.sh", Body=b'#!/bin/sh\necho "hello $1 from $0"\n')
    script = {"Name": "script", "ActionOnFailure": "CONTINUE", "HadoopJarStep": {
        "Jar": "s3://us-east-1.elasticmapreduce/libs/script-runner/script-runner.jar",
        "Args": [f"s3://{BUCKET}/scripts/hello.sh", "emr"]}}
    cluster_id = start_cluster(emr.emr, "tests-emr-stop", [script, bash_step("sleep 60")], True)
    until(lambda: step_states(emr.emr, cluster_id), lambda s: s == ["COMPLETED", "RUNNING"])
    script_id = emr.emr.list_steps(ClusterId=cluster_id)["Steps"][1]["Id"]
    assert s3_log(emr.s3, cluster_id, script_id, "stdout") == ["hello emr from ./hello.sh"]

    started = time.monotonic()
    emr.emr.terminate_job_flows(JobFlowIds=[cluster_id])
    until(lambda: cluster_status(emr.emr, cluster_id), lambda s: s["State"] == "TERMINATED")
    assert time.monotonic() - started < 10  # the sleep was killed, not waited for
    assert step_states(emr.emr, cluster_id) == ["COMPLETED", "CANCELLED"]
