"""The threads that create, update and delete an environment's Airflow (runtime) and DAG mirror (sync).

Each operation runs in its own thread and owns the environment until a later operation takes it over (see
`backend`). Rules that keep processes from leaking:
- a runtime is registered on the environment (under the lock) before it starts, and only while the operation
  still owns the environment; a superseded operation registers and starts nothing;
- an operation waits for the one before it to end before touching the runtime;
- a superseded create or update stops waiting for Airflow at once and leaves its runtime registered: the delete
  that superseded it waits for it to end, then stops whatever is registered.

Each operation runs the environment's Airflow version (`Shared.python_for`: the version's interpreter, its virtual
environment made on first use, inside the operation, never in the request). An update whose new configuration does
not start rolls back (ROLLING_BACK: the previous configuration, and after an upgrade the DB snapshot, restored and
started) to AVAILABLE, as MWAA documents; an upgrade snapshots and migrates the metadata DB first (`upgrade`).
"""

from __future__ import annotations

import shutil
import threading
import time

import botocore.exceptions

from helpers.localcloud.emulators.mwaa import log_streams, plugins, startup_script, upgrade
from helpers.localcloud.emulators.mwaa.model import Environment
from helpers.localcloud.emulators.mwaa.runtime import MWAA_PLUGINS, fresh_home
from helpers.localcloud.emulators.mwaa.validation import bucket_name

SUPERSEDED = "superseded by a later operation"


class Lifecycle:
    def __init__(self, backend):
        self.backend = backend
        self.lock = backend.lock

    def run(self, env: Environment, op, work, previous=None) -> None:
        """Start `work(env, op, previous)` in a thread; called under the lock, so op.thread is set before anyone joins it."""
        op.thread = threading.Thread(target=work, args=(env, op, previous), name=f"{op.kind}-{env.name}", daemon=True)
        op.thread.start()

    @property
    def settings(self) -> dict:
        return self.backend.shared.settings

    def home(self, env: Environment):
        return self.backend.shared.root / env.name / env.region

    # ---- operations ----
    def create(self, env: Environment, op, _previous=None) -> None:
        transition = self.backend.transition
        try:
            # nothing of an earlier environment of this name is reused: not its processes (a killed gateway's), not its DB
            fresh_home(self.home(env), self.backend.shared.root.parent)
            customer = env.config["EndpointManagement"] == "CUSTOMER"
            if customer and not transition(env, "PENDING", op):
                return
            # the version's venv, made on first use (while a PENDING environment waits for its endpoints)
            python = self.python_for(env.config["AirflowVersion"])
            if customer:
                deadline = time.monotonic() + self.settings["pending_timeout_seconds"]
                while not self._endpoints_ready(env):
                    if op.cancelled.wait(1):
                        return
                    if time.monotonic() > deadline:
                        transition(env, "CREATE_FAILED", op, "The VPC endpoints for the environment were not created in time.",
                                   "INCORRECT_CONFIGURATION")
                        return
                if not transition(env, "CREATING", op):
                    return
            error = self._start_runtime(env, op, python)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        if op.cancelled.is_set():
            return  # the delete that superseded us stops what we started
        if error:
            self._stop_runtime(env)
            transition(env, "CREATE_FAILED", op, error, "AIRFLOW_START_FAILED")
        else:
            transition(env, "AVAILABLE", op)

    def update(self, env: Environment, op, previous) -> None:
        """Restart Airflow on the new configuration; for a newer AirflowVersion, snapshot and migrate the DB first.
        Any failure rolls back (`_roll_back`)."""
        if previous is not None:
            previous.join()
        old, new = op.previous[0]["AirflowVersion"], env.config["AirflowVersion"]
        snapshot, code = None, "AIRFLOW_INSTALL_FAILED"
        try:
            python = self.python_for(new)  # makes the target's venv on first use, while the old Airflow still runs
            code = "AIRFLOW_START_FAILED"
            if old != new:
                code = "SNAPSHOT_FAILED"
                if not self.backend.transition(env, "CREATING_SNAPSHOT", op):
                    return  # superseded
                snapshot = upgrade.snapshot(self.home(env) / "airflow" / "airflow.db", self.home(env) / upgrade.SNAPSHOT)
                if not self.backend.transition(env, "UPDATING", op):
                    return
            self._stop_runtime(env)
            error = None
            if old != new and not op.cancelled.is_set():
                code = "DB_MIGRATION_FAILED"
                error = self._migrate(env, python, old, new)
            if not error and not op.cancelled.is_set():
                code = "AIRFLOW_START_FAILED"
                error = self._start_runtime(env, op, python)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        if op.cancelled.is_set():
            return
        if error:
            self._roll_back(env, op, error, code, snapshot)
        else:
            self.backend.transition(env, "AVAILABLE", op)

    def _roll_back(self, env: Environment, op, error: str, code: str, snapshot) -> None:
        """ROLLING_BACK: the configuration from before the update (and the DB snapshot an upgrade took) restored and
        started; AVAILABLE with LastUpdate FAILED and `error`, or UPDATE_FAILED when that does not start either."""
        transition = self.backend.transition
        if not transition(env, "ROLLING_BACK", op, error, code):
            return
        before, notes = op.previous
        try:
            self._stop_runtime(env)
            airflow_home = self.home(env) / "airflow"
            if snapshot is not None:
                upgrade.restore(snapshot, airflow_home / "airflow.db")
            if before["AirflowVersion"] != env.config["AirflowVersion"]:
                upgrade.forget_generated_config(airflow_home)
            if not self.backend.restore(env, op, before, notes):
                return
            failure = self._start_runtime(env, op, self.python_for(before["AirflowVersion"]))
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
        if op.cancelled.is_set():
            return
        if failure:
            self._stop_runtime(env)
            transition(env, "UPDATE_FAILED", op, f"{error} The rollback failed too: {failure}", code)
        else:
            transition(env, "AVAILABLE", op)

    def delete(self, env: Environment, op, previous) -> None:
        if previous is not None:
            previous.join()
        self._stop_runtime(env)
        try:
            self.backend.client("sqs").delete_queue(QueueUrl=env.queue_url)
        except (botocore.exceptions.ClientError, botocore.exceptions.ParamValidationError):
            pass
        shutil.rmtree(self.home(env), ignore_errors=True)
        self.backend.forget(env, op)

    # ---- Airflow ----
    def python_for(self, version: str):
        return self.backend.shared.python_for(version)

    def _migrate(self, env: Environment, python, old: str, new: str) -> str | None:
        """The target version's `airflow db migrate` on the environment's DB (its components stopped), logged: None,
        or why it failed."""
        airflow_home = self.home(env) / "airflow"
        upgrade.forget_generated_config(airflow_home)
        logs = self.backend.client("logs")
        self._create_log_groups(env, logs)
        started = time.time()
        done = self.backend.shared.runtime_factory.migrate(python, airflow_home / "airflow.db", airflow_home)
        log_streams.publish(logs, self._log_group(env, upgrade.LOG_MODULE), upgrade.stream_name(),
                            upgrade.log_lines(old, new, done, started), airflow_home / "logs" / upgrade.LOG_FILE)
        return None if done.returncode == 0 else upgrade.failure(new, done)

    def _create_log_groups(self, env: Environment, logs) -> None:
        for module, setting in env.config["LoggingConfiguration"].items():
            if setting["Enabled"]:
                try:
                    logs.create_log_group(logGroupName=env.log_group(module))
                except botocore.exceptions.ClientError:
                    pass  # kept from an earlier environment of the same name, as on AWS

    def _endpoints_ready(self, env: Environment) -> bool:
        wanted = [env.database_service] + ([env.webserver_service] if env.webserver_service else [])
        found = self.backend.client("ec2").describe_vpc_endpoints(Filters=[
            {"Name": "vpc-id", "Values": [env.vpc_id]}, {"Name": "service-name", "Values": wanted}])["VpcEndpoints"]
        live = {e["ServiceName"] for e in found if e.get("State", "available") in ("available", "pending", "pendingAcceptance")}
        return set(wanted) <= live

    def _start_runtime(self, env: Environment, op, python) -> str | None:
        """Start Airflow for env with the interpreter `python` (its version's) and wait until healthy: None, or why not."""
        shared, cfg, home = self.backend.shared, env.config, self.home(env)
        logs = self.backend.client("logs")
        self._create_log_groups(env, logs)
        task_logs = cfg["LoggingConfiguration"]["TaskLogs"]
        task_group_arn = (f"arn:aws:logs:{env.region}:{env.account}:log-group:{env.log_group('TaskLogs')}"
                          if task_logs["Enabled"] else None)
        sync = shared.sync_factory(self.backend.client("s3"), bucket_name(cfg["SourceBucketArn"]), cfg["DagS3Path"],
                                   home / "dags")
        runtime = shared.runtime_factory(home / "airflow", home / "dags", shared.cache_dir,
                                         shared.aws_env(env.region, cfg["ExecutionRoleArn"]), python=python)
        if (error := self._customise(env, op, runtime, home / "airflow", logs)):
            return error
        with self.lock:
            if env.operation is not op:
                return SUPERSEDED
            env.sync, env.runtime = sync, runtime
        sync.start()
        try:
            runtime.start(cfg["AirflowConfigurationOptions"], task_group_arn,
                          task_logs["LogLevel"] if task_logs["Enabled"] else "INFO")
        except startup_script.StartupScriptFailed as exc:
            return str(exc)
        with self.lock:
            env.webserver_url = runtime.url.split("://", 1)[1]
        deadline = time.monotonic() + self.settings["start_timeout_seconds"]
        while time.monotonic() < deadline:
            if op.cancelled.is_set():
                return SUPERSEDED
            if (reason := runtime.exited()):
                return reason
            if runtime.healthy():
                return None
            op.cancelled.wait(0.5)
        return f"Airflow did not become healthy within {self.settings['start_timeout_seconds']:.0f} s"

    def _log_group(self, env: Environment, module: str) -> str | None:
        return env.log_group(module) if env.config["LoggingConfiguration"][module]["Enabled"] else None

    def _customise(self, env: Environment, op, runtime, airflow_home, logs) -> str | None:
        """Install the environment's plugins.zip and fetch its startup script (each S3 object at its version, when
        given) for `runtime` to use: None, or why the environment cannot start."""
        cfg, s3 = env.config, self.backend.client("s3")
        bucket = bucket_name(cfg["SourceBucketArn"])
        shutil.rmtree(airflow_home / plugins.FOLDER, ignore_errors=True)
        shutil.rmtree(airflow_home / startup_script.SCRIPT.parent, ignore_errors=True)
        if (key := cfg.get("PluginsS3Path")):
            version = cfg.get("PluginsS3ObjectVersion")
            try:
                names = plugins.install(plugins.fetch(s3, bucket, key, version), airflow_home / plugins.FOLDER, MWAA_PLUGINS)
            except botocore.exceptions.ClientError as exc:
                return _unreadable("PluginsS3Path", bucket, key, version, exc)
            except plugins.PluginsZipInvalid as exc:
                return f"PluginsS3Path s3://{bucket}/{key}: {exc}"
            log_streams.publish(logs, self._log_group(env, plugins.LOG_MODULE), plugins.stream_name(),
                                plugins.listing(names, key, version), airflow_home / "logs" / "plugins.log")
            runtime.plugins_folder = airflow_home / plugins.FOLDER
        if (key := cfg.get("StartupScriptS3Path")):
            version = cfg.get("StartupScriptS3ObjectVersion")
            try:
                script = startup_script.fetch(s3, bucket, key, version, airflow_home / startup_script.SCRIPT)
            except botocore.exceptions.ClientError as exc:
                return _unreadable("StartupScriptS3Path", bucket, key, version, exc)

            def sink(result: startup_script.Result) -> None:
                log_streams.publish(logs, self._log_group(env, startup_script.LOG_MODULE[result.component]),
                                    startup_script.stream_name(), result.lines,
                                    airflow_home / "logs" / f"startup_script_{result.component}.log")

            timeout = self.settings["startup_script_timeout_seconds"]
            runtime.startup_script = startup_script.StartupScript(
                script, sink, timeout, min(startup_script.SIGTERM_GRACE_SECONDS, timeout / 10), op.cancelled)
        return None

    def _stop_runtime(self, env: Environment) -> None:
        with self.lock:
            sync, runtime = env.sync, env.runtime
            env.sync = env.runtime = None
            env.webserver_url = ""
        if sync:
            sync.stop()
        if runtime:
            runtime.stop()


def _unreadable(member: str, bucket: str, key: str, version: str | None, exc: botocore.exceptions.ClientError) -> str:
    at = f"s3://{bucket}/{key}" + (f" (version {version})" if version else "")
    return f"Unable to read the {member} object {at}: {exc.response['Error']['Code']}."
