"""Drives one local EMR cluster: boots it, runs its steps as local processes one at a time, writes their logs where
EMR does and moves the cluster and steps through EMR's states (`lifecycle`). One daemon thread per cluster.

A step's working folder is `<state>/emr/<cluster-id>/<step-id>/`: the files it downloaded, its raw `stdout` and
`stderr`, and `controller` (what ran, how it ended), kept for inspection after the cluster is gone.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.localcloud.emulators import local_aws
from helpers.localcloud.emulators.emr import commands, lifecycle

# Real clusters take minutes to start and stop. A short pause keeps each state visible to pollers and the
# order of events realistic (a waiter for RUNNING can see RUNNING) without making learners wait.
STARTING_SECONDS = 0.4
BOOTSTRAPPING_SECONDS = 0.3
TERMINATING_SECONDS = 0.3

# Every change of cluster or step state goes through this lock: request threads (AddJobFlowSteps,
# TerminateJobFlows) and runner threads touch the same moto objects.
LOCK = threading.RLock()


@dataclass(frozen=True)
class Context:
    endpoint: str
    work_dir: Path
    python: str = sys.executable


def s3_log_prefix(log_uri: str | None, cluster_id: str, step_id: str) -> str | None:
    """`<LogUri>/<cluster-id>/steps/<step-id>/`, EMR's place for a step's logs (None without a LogUri)."""
    if not log_uri:
        return None
    return f"{log_uri.rstrip('/')}/{cluster_id}/steps/{step_id}/"


def log_group(cluster_id: str) -> str:
    return f"/aws/emr/{cluster_id}"


class ClusterRunner:
    def __init__(self, context: Context, cluster, region: str):
        self.context, self.cluster, self.region = context, cluster, region
        self.wake = threading.Event()
        self.process: subprocess.Popen | None = None
        self.killed = False  # the running step was stopped by TerminateJobFlows
        self.thread = threading.Thread(target=self._drive, name=f"emr-{cluster.id}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # --- requests from API calls (under LOCK) ----------------------------------------------------------------------

    def steps_added(self) -> None:
        self.wake.set()

    def terminate(self) -> None:
        """TerminateJobFlows: stop a running step, cancel the pending ones, shut down."""
        if self.cluster.state in lifecycle.ENDING_CLUSTER:
            return
        lifecycle.begin_ending(self.cluster, lifecycle.USER_REQUEST)
        if self.process is not None and self.process.poll() is None:
            self.killed = True
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # our own child's process group (start_new_session)
            except ProcessLookupError:  # it ended in between
                pass
        self.wake.set()

    # --- the cluster's thread -----------------------------------------------------------------------------------------

    def _drive(self) -> None:
        try:
            self._boot()
            while self._turn():
                pass
        except Exception as exc:  # a bug here must not leave the cluster RUNNING forever
            with LOCK:
                if self.cluster.state not in lifecycle.ENDING_CLUSTER:
                    lifecycle.begin_ending(self.cluster, lifecycle.Ending(
                        "TERMINATED_WITH_ERRORS", "INTERNAL_ERROR", f"The local EMR failed: {type(exc).__name__}: {exc}"))
        time.sleep(TERMINATING_SECONDS)
        with LOCK:
            lifecycle.end(self.cluster)
            for group in self.cluster.instance_groups:
                group.state, group.end_date_time = "TERMINATED", self.cluster.end_datetime

    def _boot(self) -> None:
        time.sleep(STARTING_SECONDS)
        with LOCK:
            if self.cluster.state in lifecycle.ENDING_CLUSTER:
                return
            lifecycle.set_cluster_state(self.cluster, "BOOTSTRAPPING", message="Running bootstrap actions")
        time.sleep(BOOTSTRAPPING_SECONDS)
        with LOCK:
            if self.cluster.state not in lifecycle.ENDING_CLUSTER:
                self.cluster.ready_datetime = lifecycle.now()

    def _turn(self) -> bool:
        """Run the next step or wait for one; False once the cluster is shutting down."""
        cluster = self.cluster
        with LOCK:
            if cluster.state in lifecycle.ENDING_CLUSTER:
                return False
            step = lifecycle.next_step(cluster)
            if step is None:
                ending = lifecycle.when_idle(cluster)
                if ending is not None:
                    lifecycle.begin_ending(cluster, ending)
                    return False
                if cluster.state != "WAITING":
                    lifecycle.wait(cluster)
                self.wake.clear()  # under LOCK: a step added after this sets it again
            else:
                lifecycle.start_step(cluster, step)
        if step is None:
            self.wake.wait()
            return True
        failure = self._run(step)
        with LOCK:
            if self.killed:
                step.state, step.end_date_time = "CANCELLED", lifecycle.now()
                step.last_state_change_reason = "Cancelled because the cluster shut down"
                return False
            ending = lifecycle.finish_step(cluster, step, failure)
            if cluster.state in lifecycle.ENDING_CLUSTER:  # terminated by request as the step ended
                return False
            if ending is not None:
                lifecycle.begin_ending(cluster, ending)
                return False
        return True

    # --- one step ----------------------------------------------------------------------------------------------------

    def _run(self, step) -> dict | None:
        """Run a step to its end and publish its logs; its FailureDetails, or None if it succeeded."""
        folder = self.context.work_dir / self.cluster.id / step.id
        folder.mkdir(parents=True, exist_ok=True)
        prefix = s3_log_prefix(self.cluster.log_uri, self.cluster.id, step.id)
        log_file = f"{prefix}stderr.gz" if prefix else None
        env = self._env(folder)
        started = time.monotonic()
        stdout, stderr = folder / "stdout", folder / "stderr"
        controller: list[str] = []
        try:
            plan = commands.plan(step.jar, [str(a) for a in step.args], self.context.python, env["PATH"])
            self._download(plan, folder)
        except commands.Unsupported as exc:
            returncode, failure = None, lifecycle.unsupported_details(str(exc), log_file)
            stdout.write_bytes(b"")
            stderr.write_text(f"{exc}\n")
        else:
            env.update(plan.env)
            if plan.pythonpath:
                env["PYTHONPATH"] = os.pathsep.join(str(folder / p) for p in plan.pythonpath)
            controller.append(f"INFO startExec '{' '.join(plan.argv)}'")
            returncode = self._execute(plan, folder, env, stdout, stderr)
            lines = stderr.read_text(errors="replace").splitlines()
            failure = None if returncode == 0 else lifecycle.failure_details(
                lines[1:] if plan.note else lines, returncode, log_file)
        seconds = round(time.monotonic() - started)
        if failure is None:
            controller.append(f"INFO Step succeeded with exitCode 0 and took {seconds} seconds")
        elif returncode is None:
            controller.append(f"WARN Step failed before it ran: {failure['Reason']}")
        else:
            controller.append(f"WARN Step failed with exitCode {returncode} and took {seconds} seconds")
        (folder / "controller").write_text("".join(f"{lifecycle.now():%Y-%m-%dT%H:%M:%S.%fZ} {line}\n" for line in controller))
        self._publish(step, folder, prefix)
        return failure

    def _env(self, folder: Path) -> dict[str, str]:
        python_bin = str(Path(self.context.python).parent)
        return {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(folder),
                "AWS_ENDPOINT_URL": self.context.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region,
                "AWS_EC2_METADATA_DISABLED": "true", "MPLBACKEND": "Agg"}

    def _download(self, plan: commands.Plan, folder: Path) -> None:
        s3 = local_aws.client(self.context.endpoint, "s3", self.region)
        for uri, name in plan.downloads.items():
            bucket, key = commands.s3_location(uri)
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except s3.exceptions.ClientError as exc:
                raise commands.Unsupported(f"Could not download {uri}: {exc.response['Error'].get('Message') or exc}") from None
            (folder / name).write_bytes(body)
        if plan.argv and plan.argv[0].startswith("./"):  # script-runner: the script runs itself
            script = folder / plan.argv[0][2:]
            script.chmod(0o755)
            if not script.read_bytes().startswith(b"#!"):
                plan.argv[0:1] = ["/bin/bash", str(script)]

    def _execute(self, plan: commands.Plan, folder: Path, env: dict, stdout: Path, stderr: Path) -> int:
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            if plan.note:
                err.write(f"{plan.note}\n".encode())
                err.flush()
            try:
                with LOCK:
                    if self.cluster.state in lifecycle.ENDING_CLUSTER:  # terminated while the step downloaded
                        self.killed = True
                        return -signal.SIGKILL
                    self.process = subprocess.Popen(plan.argv, cwd=folder, env=env, stdout=out, stderr=err,
                                                    stdin=subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:  # e.g. a script-runner script whose interpreter does not exist
                err.write(f"{type(exc).__name__}: {exc}\n".encode())
                return 127
            returncode = self.process.wait()
        with LOCK:
            self.process = None
        return returncode

    def _publish(self, step, folder: Path, prefix: str | None) -> None:
        """Logs to S3 (gzipped, EMR's layout) and to CloudWatch Logs (the workbook's addition)."""
        problems = []
        if prefix:
            s3 = local_aws.client(self.context.endpoint, "s3", self.region)
            bucket, key = commands.s3_location(prefix)
            for name in ("controller", "stdout", "stderr"):
                try:
                    s3.put_object(Bucket=bucket, Key=f"{key}{name}.gz", Body=gzip.compress((folder / name).read_bytes()))
                except s3.exceptions.ClientError as exc:
                    problems.append(f"Could not write {prefix}{name}.gz: {exc}")
        group = log_group(self.cluster.id)
        for name in ("stdout", "stderr"):
            lines = (folder / name).read_text(errors="replace").splitlines()
            if name == "stderr":
                lines += problems
            local_aws.write_log(self.context.endpoint, self.region, group, f"steps/{step.id}/{name}", lines)
