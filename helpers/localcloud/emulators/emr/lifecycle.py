"""How a cluster and its steps change state, in EMR's words (emulated EMR). Pure: works on moto's Cluster and Step
objects or anything with the same attributes, and never sleeps or runs anything.

Steps: PENDING -> RUNNING -> COMPLETED | FAILED, or CANCELLED when an earlier failure or the cluster's end stops them.
Cluster: STARTING -> BOOTSTRAPPING -> RUNNING (a step runs) -> WAITING (KeepJobFlowAliveWhenNoSteps) or
TERMINATING -> TERMINATED (auto-terminate after the last step, or a user's TerminateJobFlows) or
TERMINATED_WITH_ERRORS (a step failed with TERMINATE_CLUSTER).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

TERMINAL_CLUSTER = ("TERMINATED", "TERMINATED_WITH_ERRORS")
ENDING_CLUSTER = ("TERMINATING", *TERMINAL_CLUSTER)
# TERMINATE_JOB_FLOW is the old name EMR still accepts.
SHUTS_DOWN = ("TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW")

READY = "Cluster ready to run steps."
READY_AFTER_STEP = "Cluster ready after last step completed."


@dataclass(frozen=True)
class Ending:
    """Why a cluster shuts down: the state it ends in and its StateChangeReason."""

    state: str
    code: str
    message: str


USER_REQUEST = Ending("TERMINATED", "USER_REQUEST", "Terminated by user request")
STEP_FAILURE = Ending("TERMINATED_WITH_ERRORS", "STEP_FAILURE", "Shut down as step failed")
ALL_STEPS_COMPLETED = Ending("TERMINATED", "ALL_STEPS_COMPLETED", "Steps completed")
STEPS_COMPLETED_WITH_ERRORS = Ending("TERMINATED", "ALL_STEPS_COMPLETED", "Steps completed with errors")


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as moto keeps its own timestamps (they get compared)


def set_cluster_state(cluster, state: str, code: str | None = None, message: str | None = None) -> None:
    cluster.state = state
    cluster.workbook_reason = {"Code": code, "Message": message} if code or message else {}
    cluster.last_state_change_reason = message  # what DescribeJobFlows shows


def next_step(cluster):
    """The step to run next, or None: steps run in the order they were added, one at a time."""
    return next((s for s in cluster.steps if s.state == "PENDING"), None)


def start_step(cluster, step) -> None:
    set_cluster_state(cluster, "RUNNING", message="Running step")
    step.state = "RUNNING"
    step.start_date_time = now()


def finish_step(cluster, step, failure: dict | None) -> Ending | None:
    """Record a step's end (`failure`: its FailureDetails, None if it succeeded) and apply its ActionOnFailure to the
    steps still pending. Returns how the cluster ends if this failure shuts it down."""
    step.end_date_time = now()
    if failure is None:
        step.state = "COMPLETED"
        return None
    step.state = "FAILED"
    step.workbook_failure = failure
    cluster.workbook_step_failed = True
    action = step.action_on_failure or "TERMINATE_CLUSTER"
    # EMR's rule: a protected cluster that is also kept alive waits instead of shutting down.
    if action in SHUTS_DOWN and not (cluster.termination_protected and cluster.keep_job_flow_alive_when_no_steps):
        cancel_pending(cluster, f"Cancelled because step {step.id} failed and shut the cluster down")
        return STEP_FAILURE
    if action in SHUTS_DOWN or action == "CANCEL_AND_WAIT":
        cancel_pending(cluster, f"Cancelled because step {step.id} failed with ActionOnFailure {action}")
    return None


def when_idle(cluster) -> Ending | None:
    """No step pending: the cluster waits (None) or, set to auto-terminate, shuts down (termination protection does
    not stop that, as on EMR)."""
    if cluster.keep_job_flow_alive_when_no_steps:
        return None
    return STEPS_COMPLETED_WITH_ERRORS if getattr(cluster, "workbook_step_failed", False) else ALL_STEPS_COMPLETED


def wait(cluster) -> None:
    ran = any(s.state not in ("PENDING", "CANCELLED") for s in cluster.steps)
    set_cluster_state(cluster, "WAITING", message=READY_AFTER_STEP if ran else READY)


def begin_ending(cluster, ending: Ending) -> None:
    cluster.workbook_ending = ending
    set_cluster_state(cluster, "TERMINATING", ending.code, ending.message)
    cancel_pending(cluster, "Cancelled because the cluster shut down")


def end(cluster) -> None:
    ending = getattr(cluster, "workbook_ending", None) or USER_REQUEST
    set_cluster_state(cluster, ending.state, ending.code, ending.message)
    cluster.end_datetime = now()


def cancel_pending(cluster, reason: str) -> None:
    for step in cluster.steps:
        if step.state == "PENDING":
            step.state = "CANCELLED"
            step.last_state_change_reason = reason
            step.end_date_time = now()


def failure_details(stderr: list[str], returncode: int, log_file: str | None) -> dict:
    """FailureDetails as EMR reports a failed step: the root-cause line, the log's last lines, where the log is."""
    lines = [line.rstrip() for line in stderr if line.strip()]
    details = {"Reason": lines[-1][:1000] if lines else "Unknown Error.",
               "Message": "\n".join([*lines[-10:], f"Step exited with code {returncode}"])[-10000:]}
    if log_file:
        details["LogFile"] = log_file
    return details


def unsupported_details(reason: str, log_file: str | None) -> dict:
    details = {"Reason": reason[:1000], "Message": reason}
    if log_file:
        details["LogFile"] = log_file
    return details
