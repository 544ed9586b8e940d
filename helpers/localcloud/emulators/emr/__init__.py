"""EMR clusters whose steps run (emulated EMR), wired into moto's EMR in the gateway process.

moto keeps EMR's API surface (RunJobFlow, AddJobFlowSteps, DescribeCluster, ListSteps ...) but its steps never run
and never finish. `apply()` patches it so that, per cluster, a runner thread (`runner`):

- boots the cluster (STARTING -> BOOTSTRAPPING), then runs its steps in the order they were added, one at a time
  (StepConcurrencyLevel is not honoured), each as a local process (`commands`): `command-runner.jar` with
  `spark-submit ... s3://.../app.py args` (the application is downloaded from the local S3 and run with the
  workbook's Python, no Spark, and the step's stderr says so in its first line), `bash -c ...` or another local
  command; `script-runner.jar` with an s3:// script. Other jars fail the step with the reason.
- moves steps PENDING -> RUNNING -> COMPLETED / FAILED (FailureDetails: Reason, Message, LogFile) and applies
  ActionOnFailure (TERMINATE_CLUSTER, CANCEL_AND_WAIT and CONTINUE), and the cluster RUNNING -> WAITING
  (KeepJobFlowAliveWhenNoSteps) or TERMINATING -> TERMINATED / TERMINATED_WITH_ERRORS, with StateChangeReason
  codes and messages as EMR words them (`lifecycle`). TerminateJobFlows stops a running step.
- writes each step's stdout and stderr gzipped to `<LogUri>/<cluster-id>/steps/<step-id>/stdout.gz` and
  `stderr.gz` (with `controller.gz`) in the local S3, EMR's layout, before the step's state changes.
- also writes them to CloudWatch Logs, group `/aws/emr/<cluster-id>`, streams `steps/<step-id>/stdout` and
  `steps/<step-id>/stderr`. Real EMR does not do this (only with the CloudWatch agent installed on the cluster);
  the workbook does it so Logs Insights can query EMR lines beside Airflow's and Glue's.

A step's process gets the local cloud's endpoint and credentials in its environment (AWS_ENDPOINT_URL ...), so its
boto3 calls reach the local cloud. Bootstrap actions are recorded but not run. AddJobFlowSteps on a cluster that is
shutting down or gone fails with EMR's ValidationException. ListSteps answers newest first by order of submission
(moto sorts by creation time, which ties for steps added in one call).
"""

from __future__ import annotations

from pathlib import Path

from helpers.localcloud.emulators.emr import lifecycle
from helpers.localcloud.emulators.emr.runner import LOCK, ClusterRunner, Context

_CONTEXT: dict[str, Context] = {}


def _step_status(self) -> dict:
    status = {"State": self.state,
              "StateChangeReason": {"Message": self.last_state_change_reason}
              if getattr(self, "last_state_change_reason", None) else {},
              "Timeline": {"CreationDateTime": self.creation_date_time, "StartDateTime": self.start_date_time,
                           "EndDateTime": self.end_date_time}}
    if getattr(self, "workbook_failure", None):
        status["FailureDetails"] = self.workbook_failure
    return status


def _cluster_status(self) -> dict:
    return {"State": self.state,
            "StateChangeReason": {k: v for k, v in getattr(self, "workbook_reason", {}).items() if v},
            "Timeline": {"CreationDateTime": self.creation_datetime, "ReadyDateTime": self.ready_datetime,
                         "EndDateTime": self.end_datetime}}


def apply(endpoint: str, work_dir: Path) -> None:
    """Make moto's EMR run steps (gateway process only)."""
    from moto.emr.exceptions import ValidationException
    from moto.emr.models import Cluster, ElasticMapReduceBackend, Step

    work_dir.mkdir(parents=True, exist_ok=True)
    _CONTEXT["current"] = Context(endpoint, work_dir.resolve())
    if getattr(ElasticMapReduceBackend, "_workbook_emr", False):
        return
    run_job_flow, add_job_flow_steps = ElasticMapReduceBackend.run_job_flow, ElasticMapReduceBackend.add_job_flow_steps

    def add_steps(self, steps: list[dict]) -> list:
        # moto starts the first step at once and marks the cluster RUNNING; here the runner decides both.
        added = [Step(state="PENDING", **step) for step in steps]
        self.steps.extend(added)
        return added

    def run_bootstrap_actions(self) -> None:
        """moto jumps to WAITING (or TERMINATED) at once; the runner boots the cluster instead."""

    def run_job_flow_and_start(self, **kwargs):
        with LOCK:
            cluster = run_job_flow(self, **kwargs)
            for step in cluster.steps:
                step.start_date_time = None
            lifecycle.set_cluster_state(cluster, "STARTING", message="Provisioning the local cluster")
            cluster.workbook_runner = ClusterRunner(_CONTEXT["current"], cluster, self.region_name)
        cluster.workbook_runner.start()
        return cluster

    def add_job_flow_steps_and_wake(self, job_flow_id: str, steps: list[dict]) -> list:
        with LOCK:
            cluster = self.describe_cluster(job_flow_id)
            if cluster.state in lifecycle.ENDING_CLUSTER:
                raise ValidationException("A job flow that is shutting down, terminated, or finished may not be modified.")
            added = add_job_flow_steps(self, job_flow_id, steps)
            runner = getattr(cluster, "workbook_runner", None)
            if runner is not None:
                runner.steps_added()
        return added

    def terminate(self) -> None:
        with LOCK:
            runner = getattr(self, "workbook_runner", None)
            if runner is not None:
                runner.terminate()
            elif self.state not in lifecycle.TERMINAL_CLUSTER:  # a cluster from before the patch has no runner
                lifecycle.begin_ending(self, lifecycle.USER_REQUEST)
                lifecycle.end(self)

    def list_steps(self, cluster_id: str, step_ids: list[str] | None = None, step_states: list[str] | None = None) -> list:
        steps = list(reversed(self.describe_cluster(cluster_id).steps))
        return [s for s in steps if (not step_ids or s.id in step_ids) and (not step_states or s.state in step_states)]

    Cluster.add_steps = add_steps
    Cluster.run_bootstrap_actions = run_bootstrap_actions
    Cluster.terminate = terminate
    Cluster.status = property(_cluster_status)
    Step.status = property(_step_status)
    ElasticMapReduceBackend.run_job_flow = run_job_flow_and_start
    ElasticMapReduceBackend.add_job_flow_steps = add_job_flow_steps_and_wake
    ElasticMapReduceBackend.list_steps = list_steps
    ElasticMapReduceBackend._workbook_emr = True
