"""Runs Glue Python shell job scripts as local processes (emulated Glue job runs).

moto records StartJobRun but never runs the script, and reports SUCCEEDED after a few polls whatever the
script would have done. Here a run does what Glue does for a Python shell job: fetch the script from its
ScriptLocation in S3, run it with the job's default arguments overlaid by the run's (`--key value`) plus
Glue's own (--JOB_NAME, --JOB_RUN_ID, --scriptLocation), with an `awsglue` module that provides
getResolvedOptions, and the local cloud as its AWS. The run moves STARTING -> RUNNING -> SUCCEEDED, FAILED
(non-zero exit; ErrorMessage is the last line the script wrote to stderr) or TIMEOUT (the job's Timeout, in
minutes). Its stdout and stderr go to CloudWatch Logs `/aws-glue/python-jobs/output` and `/error`, stream
named after the run id, which is where the amazon provider's GlueJobOperator(verbose=True) reads them.

Spark (glueetl) and Ray jobs cannot run here: such a run fails with an ErrorMessage saying so.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SHIM = Path(__file__).parent / "shim"
LOG_GROUPS = {"pythonshell": "/aws-glue/python-jobs", "glueetl": "/aws-glue/jobs", "gluestreaming": "/aws-glue/jobs",
              "glueray": "/aws-glue/ray"}
DEFAULT_TIMEOUT_MINUTES = 2880


@dataclass
class RunOutcome:
    state: str
    error: str | None
    seconds: float
    stdout: list[str]
    stderr: list[str]


def log_group(command_name: str) -> str:
    return LOG_GROUPS.get(command_name, "/aws-glue/jobs")


def command_line(script: Path, job_name: str, run_id: str, script_location: str, arguments: dict[str, str]) -> list[str]:
    args = [sys.executable, str(script), "--JOB_NAME", job_name, "--JOB_RUN_ID", run_id, "--scriptLocation", script_location]
    for key, value in (arguments or {}).items():
        args += [key if key.startswith("--") else f"--{key}", str(value)]
    return args


def run_script(script: Path, job_name: str, run_id: str, script_location: str, arguments: dict[str, str],
               env: dict[str, str], timeout_minutes: int | None) -> RunOutcome:
    """Run one job script to its end; what it printed, split into lines."""
    started = time.monotonic()
    limit = 60 * (timeout_minutes or DEFAULT_TIMEOUT_MINUTES)
    with tempfile.TemporaryDirectory(prefix="glue-run-") as cwd:
        try:
            done = subprocess.run(command_line(script, job_name, run_id, script_location, arguments),
                                  env={**env, "PYTHONPATH": str(SHIM), "HOME": cwd}, cwd=cwd,
                                  capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
            return RunOutcome("TIMEOUT", f"Job run timed out after {limit // 60} minutes", time.monotonic() - started,
                              out.splitlines(), err.splitlines())
    stdout, stderr = done.stdout.splitlines(), done.stderr.splitlines()
    if done.returncode == 0:
        return RunOutcome("SUCCEEDED", None, time.monotonic() - started, stdout, stderr)
    last = next((line.strip() for line in reversed(stderr) if line.strip()), f"exit code {done.returncode}")
    return RunOutcome("FAILED", last[:1000], time.monotonic() - started, stdout, stderr)
