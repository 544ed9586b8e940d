"""An environment's startup script (`StartupScriptS3Path`), run before its Airflow components start, as MWAA's image
runs it (aws/amazon-mwaa-docker-images, images/airflow/3.3.1: python/mwaa/config/setup_environment.py,
bin/airflow-user/execute-user-startup-script, python/mwaa/logging/config.py).

What the image does, and so this module:
- The script runs once per container, with bash, in the environment the component will get, plus
  `MWAA_AIRFLOW_COMPONENT` (and `MWAA_COMMAND`) set to the container's command: `webserver`, `scheduler` or `worker`.
  The image's scheduler container runs the scheduler, the DAG processor and the triggerer, so one `scheduler` run
  serves those three local processes; the API server is the `webserver`.
- Locally the LocalExecutor's workers are processes of the scheduler, not a container of their own: the script runs a
  third time as `worker`, and what that run exports is applied in the worker processes only (the executor,
  pythonpath/mwaa_local_executor.py, reads `WORKER_ENVIRON`), so tasks see the worker's variables, not the scheduler's.
- The script is sourced by a wrapper that aliases `exit` to a handler saving the environment (`env`), so an
  `exit 3` inside the script still ends in a saved environment: the image ignores the script's exit status. What fails
  the component is a script that does not reach that handler: it ran out of time (5 minutes minus a 5 s SIGTERM
  grace, then SIGKILL), or bash itself ended early (`set -e` and a failing command, a fatal shell error), so no
  environment was saved. The AWS documentation says nothing of `exit`; this follows the image.
- Every variable the saved environment adds or changes is passed on, except the reserved ones (`reserved`), which the
  image silently overrides with its own values. Locally each refusal is also written to the log (the image logs
  nothing about it). AirflowConfigurationOptions win over the script's exports, as in the image.
- Output (stdout and stderr) goes to the component's CloudWatch log group (webserver: WebserverLogs, scheduler:
  SchedulerLogs, worker: WorkerLogs), if that log type is enabled, in the stream
  `startup_script_execution_<hostname>_<epoch>.log`, each line as `[LEVEL] - message`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TIMEOUT_SECONDS = 300.0  # the image's limit: 5 minutes in all, SIGTERM 5 s before the end
SIGTERM_GRACE_SECONDS = 5.0
# local process -> the image's container command (MWAA_AIRFLOW_COMPONENT)
IMAGE_COMPONENT = {"api-server": "webserver", "scheduler": "scheduler", "dag-processor": "scheduler",
                   "triggerer": "scheduler"}
WORKER = "worker"
RUNS = ("webserver", "scheduler", WORKER)
LOG_MODULE = {"webserver": "WebserverLogs", "scheduler": "SchedulerLogs", WORKER: "WorkerLogs"}
# Relative to AIRFLOW_HOME; pythonpath/mwaa_worker_environ.py spells the same path (it cannot import helpers).
WORKER_ENVIRON = Path("startup") / "worker_environ.json"
SCRIPT = Path("startup") / "startup.sh"

# The variables a startup script cannot change: the ONE list, from the image's setup_environment.py
# (_is_protected_os_environ: every MWAA__* variable and the names below) and the "essential" variables it applies
# last (mwaa/config/environ.py get_essential_environ, mwaa/config/airflow.py get_essential_airflow_config). The AWS
# documentation lists `MWAA__AIRFLOW__COMPONENT` as reserved and says PYTHONPATH may be overwritten; the image reads
# `MWAA_AIRFLOW_COMPONENT` and protects PYTHONPATH: this follows the image (and keeps the documented name too).
RESERVED_PREFIXES = ("MWAA__",
                     # the image forces its metrics settings whenever MWAA's CloudWatch metrics integration is on
                     "AIRFLOW__METRICS__")
RESERVED_NAMES = frozenset({
    # protected
    "AIRFLOW_ENV_ID", "AIRFLOW_ENV_NAME", "AIRFLOW_HOME", "AIRFLOW_TASK_REVISION_ID", "AIRFLOW_VERSION",
    "AIRFLOW__AWS_MWAA__REDIRECT_URL", "JWT_PUBLIC_KEY", "AIRFLOW__WEBSERVER__BASE_URL", "AIRFLOW__API__BASE_URL",
    "AWS_DEFAULT_REGION", "AWS_REGION", "CUSTOMER_ACCOUNT_ID", "ECS_AGENT_URI", "ECS_CONTAINER_METADATA_URI",
    "ECS_CONTAINER_METADATA_URI_V4", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_EXECUTION_ENV", "PYTHONPATH",
    "PYTHONUNBUFFERED", "WATCHTOWER_VERSION", "USE_NON_CRITICAL_LOGGING", "AIRFLOW__CORE__DATABASE_ACCESS_ISOLATION",
    # essential environment
    "MWAA_AIRFLOW_COMPONENT", "MWAA_COMMAND",
    # essential Airflow configuration
    "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS",
    "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG", "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__WORKER_ENABLE_REMOTE_CONTROL", "AIRFLOW__OPERATORS__DEFAULT_QUEUE",
    "AIRFLOW__CORE__LOAD_EXAMPLES", "AIRFLOW__CORE__MULTI_TEAM", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS",
    "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG", "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR",
    "AIRFLOW__FAB__CONFIG_FILE", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__AUTH_MANAGER",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS",
    "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API_AUTH__JWT_ALGORITHM", "AIRFLOW__EXECUTION_API__JWT_EXPIRATION_TIME",
    "AIRFLOW__TRIGGERER__QUEUES_ENABLED",
})
# What bash sets in every shell: not something the script exported.
SHELL_VARIABLES = frozenset({"_", "SHLVL", "PWD", "OLDPWD"})

# The image's execute-user-startup-script, with `env -0` for its `jq -n env` (values may hold newlines) and the
# script and output paths as arguments rather than fixed paths.
_WRAPPER = """\
__mwaa_script=$1
__mwaa_environ=$2
set --
echo "Executing customer startup script"

handle_exit() {
    echo "Exiting customer startup script"
    env -0 > "$__mwaa_environ"

    unalias exit
    exit
}

shopt -s expand_aliases
alias exit=handle_exit

source "$__mwaa_script"

handle_exit
"""


class StartupScriptFailed(Exception):
    """A component cannot start: its startup script timed out or ended before saving its environment."""


def reserved(name: str) -> bool:
    return name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES)


def option_variables(options: dict[str, str]) -> set[str]:
    """The environment variables AirflowConfigurationOptions become (they win over a script's exports)."""
    names = set()
    for key in options:
        section, option = key.split(".", 1)
        names.add(f"AIRFLOW__{section.upper()}__{option.upper()}")
    return names


def stream_name(hostname: str | None = None, epoch: float | None = None) -> str:
    """As the image's SubprocessLogHandler names it: prefix, host name, epoch (unique and sortable)."""
    return f"startup_script_execution_{hostname or socket.gethostname()}_{time.time() if epoch is None else epoch}.log"


@dataclass
class Result:
    """One run of the script for one component."""

    component: str
    exports: dict[str, str] = field(default_factory=dict)  # passed on to the component
    refused: list[str] = field(default_factory=list)  # reserved names the script tried to set
    lines: list[tuple[float, str]] = field(default_factory=list)  # (epoch seconds, "[LEVEL] - message")
    error: str | None = None
    seconds: float = 0.0

    def log(self, level: str, message: str) -> None:
        self.lines.append((time.time(), f"[{level}] - {message}"))


def run(script: Path, component: str, env: dict[str, str], cwd: Path, timeout: float = TIMEOUT_SECONDS,
        grace: float = SIGTERM_GRACE_SECONDS, cancelled: threading.Event | None = None) -> Result:
    """Run `script` for `component` (a name of `RUNS`) in `env`; what it exports, what it output, or why it failed.
    Setting `cancelled` (a DeleteEnvironment superseding the start) stops the script as a timeout does."""
    result = Result(component)
    work = cwd / "startup" / component
    work.mkdir(parents=True, exist_ok=True)
    wrapper, saved = work / "execute-user-startup-script", work / "environ"
    wrapper.write_text(_WRAPPER)
    saved.unlink(missing_ok=True)
    start = time.monotonic()
    proc = subprocess.Popen(["bash", str(wrapper), str(script), str(saved)], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**env, "MWAA_AIRFLOW_COMPONENT": component, "MWAA_COMMAND": component})
    reader = threading.Thread(target=_read, args=(proc, result), daemon=True)
    reader.start()
    cancelled = cancelled or threading.Event()
    deadline = start + max(timeout - grace, 0.0)
    while proc.poll() is None and not cancelled.is_set() and time.monotonic() < deadline:
        cancelled.wait(0.05)
    timed_out = proc.poll() is None
    if timed_out:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    # a background child of the script may keep the pipe open: stop reading, not waiting for it
    reader.join(timeout=2)
    result.seconds = time.monotonic() - start
    result.log("INFO", f"Startup script execution time: {result.seconds:.2f} seconds.")
    if cancelled.is_set():
        result.error = f"The startup script of the {component} was stopped: the environment is being deleted."
    elif timed_out:
        result.error = (f"The startup script of the {component} did not finish within {timeout:g} seconds "
                        f"(MWAA's limit is 5 minutes): it was stopped, and the {component} did not start.")
    elif not saved.exists():
        result.error = (f"The startup script of the {component} ended (exit status {proc.returncode}) before MWAA "
                        f"could read the variables it exports, so the {component} did not start.")
    if result.error:
        result.log("ERROR", result.error)
        return result
    captured = _parse(saved.read_bytes())
    for name, value in captured.items():
        if name in SHELL_VARIABLES or env.get(name) == value or name in ("MWAA_AIRFLOW_COMPONENT", "MWAA_COMMAND"):
            continue
        if reserved(name):
            result.refused.append(name)
            result.log("WARNING", f"The startup script set {name}, which Amazon MWAA reserves: not passed on to the "
                                  f"{component}.")
        else:
            result.exports[name] = value
    return result


def _read(proc: subprocess.Popen, result: Result) -> None:
    for raw in proc.stdout:
        result.log("INFO", raw.decode("utf-8", errors="replace").rstrip("\n"))


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _parse(dump: bytes) -> dict[str, str]:
    found = {}
    for entry in dump.decode("utf-8", errors="replace").split("\0"):
        name, sep, value = entry.partition("=")
        if sep and name:
            found[name] = value
    return found


def component_environ(env: dict[str, str], result: Result, options: set[str]) -> dict[str, str]:
    """What a component runs with after its script: the script's exports over `env`, the configuration options
    (`options`: their variable names) over both, and MWAA's component variables."""
    final = {**env, **{k: v for k, v in result.exports.items() if k not in options}}
    final.update({"MWAA_AIRFLOW_COMPONENT": result.component, "MWAA_COMMAND": result.component})
    return final


def worker_changes(scheduler: dict[str, str], worker: dict[str, str]) -> dict:
    """How a worker's environment differs from the scheduler's that forks it: {"set": {...}, "unset": [...]}."""
    return {"set": {k: v for k, v in worker.items() if scheduler.get(k) != v},
            "unset": sorted(k for k in scheduler if k not in worker)}


Sink = Callable[[Result], None]


class StartupScript:
    """An environment's script, run for every component before Airflow starts (see `environments`)."""

    def __init__(self, script: Path, sink: Sink, timeout: float = TIMEOUT_SECONDS, grace: float = SIGTERM_GRACE_SECONDS,
                 cancelled: threading.Event | None = None):
        self.script, self.sink, self.timeout, self.grace = script, sink, timeout, grace
        self.cancelled = cancelled

    def environments(self, env: dict[str, str], options: dict[str, str], home: Path) -> dict[str, dict[str, str]]:
        """local process name -> its environment; the workers' changes written to home/WORKER_ENVIRON.

        The three runs go in parallel, as MWAA's containers start in parallel (and a script that overruns costs
        one limit, not three). Raises StartupScriptFailed with the first failure's reason."""
        results: dict[str, Result] = {}
        threads = [threading.Thread(target=lambda c=c: results.__setitem__(c, self._run(c, env, home)), daemon=True)
                   for c in RUNS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        failed = [results[c].error for c in RUNS if results[c].error]
        if failed:
            raise StartupScriptFailed(failed[0])
        names = option_variables(options)
        per_run = {c: component_environ(env, results[c], names) for c in RUNS}
        (home / WORKER_ENVIRON).write_text(json.dumps(worker_changes(per_run["scheduler"], per_run[WORKER])))
        return {process: per_run[image] for process, image in IMAGE_COMPONENT.items()}

    def _run(self, component: str, env: dict[str, str], home: Path) -> Result:
        try:
            result = run(self.script, component, env, home, self.timeout, self.grace, self.cancelled)
        except OSError as exc:
            result = Result(component, error=f"The startup script of the {component} could not run: {exc}")
        try:
            self.sink(result)
        except Exception:  # the log is best effort, as on MWAA; the outcome is what counts
            pass
        return result


def fetch(s3, bucket: str, key: str, version: str | None, target: Path) -> Path:
    """The script's S3 object (that version when given) at `target`."""
    extra = {"VersionId": version} if version else {}
    body = s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    return target
