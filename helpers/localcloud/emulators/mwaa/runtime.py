"""Real Apache Airflow 3 for one local MWAA environment: API server, scheduler, DAG processor, triggerer.

Each environment runs its own Airflow version: every process is started by that version's interpreter
(`versions.python_for`, given as `python`; the workbook's own for the installed version). It has its own AIRFLOW_HOME,
SQLite metadata DB (a copy of a template that version's `airflow db migrate` made once, so an environment starts in
seconds), ports on 127.0.0.1 and LocalExecutor sized for a 2-core machine (serving only the
default queue: pythonpath/mwaa_local_executor.py). The log
servers Airflow would start on all interfaces are skipped: all components share one AIRFLOW_HOME, so the
API server reads task logs from disk (or from CloudWatch when task logs are enabled, as on MWAA).

The processes are named on disk (a process record under the local cloud's state, see `helpers.localcloud.processes`)
as soon as each starts, so they can be stopped even after the gateway that started them was killed.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

from helpers.localcloud import processes
from helpers.localcloud.emulators.mwaa.startup_script import WORKER_ENVIRON
from helpers.localcloud.snowflake_trust import trust_env
from helpers.paths import state_dir

COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
ADMIN = "admin"
STOP_GRACE_SECONDS = 3.0  # then SIGKILL: a dag-processor was seen ignoring SIGTERM for 13 s
# MWAA's UI sign-in route (/pluginsv2/aws_mwaa/login) as an Airflow plugin; see airflow_plugins/aws_mwaa_login.py.
MWAA_PLUGINS = Path(__file__).with_name("airflow_plugins")
# What the Airflow processes import first: the executor, and a stand-in for a package MWAA's image lacks (pythonpath/)
AIRFLOW_PYTHONPATH = Path(__file__).with_name("pythonpath")
EXECUTOR = "mwaa_local_executor.MwaaLocalExecutor"
MIGRATE_TIMEOUT_SECONDS = 600


def fresh_home(folder: Path, localcloud_dir: Path | None = None) -> None:
    """Make `folder` (an environment's home) empty for a new environment: stop whatever still runs there (recorded, or
    found by working folder, e.g. left by a killed gateway) and remove what an earlier environment left."""
    localcloud_dir = localcloud_dir or state_dir() / "localcloud"
    processes.stop_record(_record_path(localcloud_dir, folder), STOP_GRACE_SECONDS)
    processes.stop_found(processes.processes_under(folder), STOP_GRACE_SECONDS)
    shutil.rmtree(folder, ignore_errors=True)


def _record_path(localcloud_dir: Path, environment_folder: Path) -> Path:
    # an environment's folder is mwaa/<name>/<region>: both parts, or two regions' environments share a record
    return processes.records_dir(localcloud_dir) / f"airflow-{environment_folder.parent.name}-{environment_folder.name}.json"


@functools.cache
def airflow_version(python: Path) -> str:
    """The Airflow version `python` runs (the workbook's own without a subprocess)."""
    if Path(python) == Path(sys.executable):
        return version("apache-airflow")
    done = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        raise RuntimeError(f"{python} has no Airflow: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def migrate_db(python: Path, db: Path, home: Path) -> subprocess.CompletedProcess:
    """`airflow db migrate` of `python`'s Airflow on the SQLite DB `db`, with `home` as AIRFLOW_HOME (output captured)."""
    env = {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PATH": f"{Path(python).parent}:/usr/bin:/bin",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}", "LANG": "C.UTF-8", "NO_COLOR": "1",
           "PYTHONPATH": str(AIRFLOW_PYTHONPATH)}
    return subprocess.run([str(python), "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True,
                          timeout=MIGRATE_TIMEOUT_SECONDS)


def template_db(cache_dir: Path, python: Path | None = None) -> Path:
    """A migrated, empty metadata DB for `python`'s Airflow (default: the installed one), named by its version, made
    once (by that version's `airflow db migrate`) and copied for every environment of that version."""
    python = Path(python or sys.executable)
    airflow = airflow_version(python)
    target = cache_dir / f"airflow-{airflow}.db"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".template-{airflow}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        home = cache_dir / f"template-home-{airflow}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
        done = migrate_db(python, home / "airflow.db", home)
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate ({airflow}) failed: {done.stdout[-500:]}{done.stderr[-500:]}")
        (home / "airflow.db").replace(target)
        shutil.rmtree(home, ignore_errors=True)
    return target


class AirflowRuntime:
    def __init__(self, home: Path, dags: Path, cache_dir: Path, aws_env: dict[str, str], localcloud_dir: Path | None = None,
                 python: Path | None = None):
        self.home, self.dags, self.cache_dir, self.aws_env = home, dags, cache_dir, aws_env
        # The interpreter of the environment's Airflow version (versions.python_for): every component, the CLI
        # endpoint and the template DB use it.
        self.python = Path(python or sys.executable)
        # The gateway's `--state-dir`; by default the same folder the client uses (the gateway inherits WORKBOOK_STATE_DIR).
        self.localcloud_dir = localcloud_dir or state_dir() / "localcloud"
        self.record = _record_path(self.localcloud_dir, home.parent)
        self.port = 0
        self.password = ""
        self.processes: dict[str, tuple[int, float]] = {}
        self.env: dict[str, str] = {}
        self._token: tuple[str, float] | None = None
        # Set by the lifecycle when the environment has a plugins.zip, a startup script or a requirements.txt (see
        # plugins, startup_script, requirements: the overlay folder its packages were installed into)
        self.plugins_folder: Path | None = None
        self.startup_script = None
        self.requirements_folder: Path | None = None

    @staticmethod
    def migrate(python: Path, db: Path, home: Path) -> subprocess.CompletedProcess:
        """An upgrade's step, with no runtime running: the target version's `airflow db migrate` on the DB `db`."""
        return migrate_db(python, db, home)

    @property
    def url(self) -> str:
        return f"http://{processes.LOOPBACK}:{self.port}"

    def environment(self, options: dict[str, str], task_log_group_arn: str | None, log_level: str) -> dict[str, str]:
        # The environment's Python first on PATH, as on MWAA's workers: EksPodOperator's kubeconfig runs
        # `python3.11 -m airflow.providers.amazon.aws.utils.eks_get_token`, which the machine's Python cannot.
        env = {"PATH": f"{self.python.parent}:/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8",
               "NO_COLOR": "1", **self.aws_env,
               **trust_env(self.localcloud_dir)}  # tasks reach the local Snowflake over TLS
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # LocalExecutor whose workers serve only the default queue, as MWAA's Celery workers (pythonpath/)
            "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
            # ours first, so a customer package cannot replace the executor; then the requirements.txt overlay,
            # before site-packages as PYTHONPATH always is (see requirements)
            "PYTHONPATH": os.pathsep.join(str(p) for p in (AIRFLOW_PYTHONPATH, self.requirements_folder) if p),
            "AIRFLOW__CORE__PARALLELISM": "4",  # sized for 2 cores; MWAA sizes it by environment class
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # as on MWAA
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__API__HOST": processes.LOOPBACK,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            # One API worker over SQLite answers a task's start call in seconds when two cores are busy; at the 5 s
            # default the supervisor SIGKILLs the task before it runs (seen in CI under `make test`). Airflow 3.0 (MWAA
            # 3.0.6) has no such option: its task SDK client keeps httpx's 5 s and retries timeouts instead.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            # New DAG files in S3 show up within seconds, as the workshop expects, not minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
            # MWAA's default: new files still appear within seconds (the refresh above); re-parsing every file every
            # 10 s cost each environment a steady share of a 2-core machine.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "120",
            "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": log_level,
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder or MWAA_PLUGINS),
        })
        if task_log_group_arn:
            # MWAA's own mechanism: Airflow's CloudWatch task handler, here writing to the local cloud.
            env.update({"AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
                        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"cloudwatch://{task_log_group_arn}",
                        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "aws_default"})
        for key, value in options.items():
            section, option = key.split(".", 1)
            env[f"AIRFLOW__{section.upper()}__{option.upper()}"] = value
        return env

    def start(self, options: dict[str, str], task_log_group_arn: str | None = None, log_level: str = "INFO") -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags.mkdir(parents=True, exist_ok=True)
        db = self.home / "airflow.db"
        if not db.exists():
            shutil.copy(template_db(self.cache_dir, self.python), db)
        self.password = secrets.token_urlsafe(16)
        (self.home / "passwords.json").write_text(json.dumps({ADMIN: self.password}))
        self.port = processes.free_port()
        self._token = None
        env = self.env = self.environment(options, task_log_group_arn, log_level)
        envs = dict.fromkeys(COMPONENTS, env)
        (self.home / WORKER_ENVIRON).unlink(missing_ok=True)  # an earlier start's, when the script was since removed
        if self.startup_script is not None:
            # before any process starts; raises StartupScriptFailed when a component may not start
            envs = self.startup_script.environments(env, options, self.home)
            self.env = envs["api-server"]  # the CLI endpoint runs where MWAA runs it, beside the web server
        processes.stop_record(self.record, STOP_GRACE_SECONDS)  # left by a gateway that was killed
        for name, args in COMPONENTS.items():
            proc = processes.spawn([str(self.python), "-m", "airflow", *args], self.home / "logs" / f"{name}.log",
                                   env=envs[name], cwd=self.home)
            self.processes[name] = (proc.pid, processes.started(proc))
            # named by environment, as `localcloud.strays` names what it finds by working folder (mwaa/<name>/<region>)
            processes.write_record(self.record, f"airflow:{self.home.parent.parent.name}", self.processes, home=str(self.home))

    def exited(self) -> str | None:
        """The first component that died, with the last line of its log; None while all run."""
        for name, (pid, created) in self.processes.items():
            if not processes.is_same_process(pid, created):
                log = self.home / "logs" / f"{name}.log"
                lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()] if log.exists() else []
                errors = [ln for ln in lines if "Error" in ln or "error" in ln]
                return f"Airflow {name} exited: {(errors or lines or ['no output'])[-1].strip()[:300]}"
        return None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=2) as resp:
                health = json.load(resp)
        except (OSError, ValueError):
            return False
        return all(health.get(key, {}).get("status") == "healthy" for key in HEALTH_KEYS)

    def wait_healthy(self, timeout: float) -> str | None:
        """None once healthy; otherwise why not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (reason := self.exited()):
                return reason
            if self.healthy():
                return None
            time.sleep(0.5)
        return f"Airflow did not become healthy within {timeout:.0f} s"

    def stop(self) -> None:
        processes.stop_all(list(self.processes.values()), STOP_GRACE_SECONDS)
        self.processes.clear()
        self.record.unlink(missing_ok=True)

    def token(self) -> str:
        """A JWT for the Airflow REST API (SimpleAuthManager), cached well inside its lifetime."""
        if self._token and self._token[1] > time.monotonic():
            return self._token[0]
        request = urllib.request.Request(f"{self.url}/auth/token", method="POST",
                                         data=json.dumps({"username": ADMIN, "password": self.password}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            token = json.load(resp)["access_token"]
        self._token = (token, time.monotonic() + 3600)
        return token

    def call(self, method: str, path: str, query: dict | None = None, body=None) -> tuple[int, object]:
        """One Airflow REST API call; returns (HTTP status, parsed JSON or text)."""
        from urllib.parse import urlencode

        url = f"{self.url}{path}" + (f"?{urlencode(query, doseq=True)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, method=method, data=data, headers={
            "Authorization": f"Bearer {self.token()}", "Accept": "application/json", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else {}
        except ValueError:
            return status, {"content": raw.decode(errors="replace")}
