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
not start rolls back (ROLLING_BACK: the previous configuration, the S3 object versions it ran (`ObjectReader`) and,
after an upgrade, the DB snapshot, restored and started) to UPDATE_FAILED, as MWAA's upgrade post describes (see
`backend`); an upgrade snapshots and migrates the metadata DB first (`upgrade`).

Emulated: a requirements.txt that cannot resolve for the new configuration fails the update before the running Airflow
is stopped (`_resolve_early`), so its rollback only restores the configuration. MWAA finds out in the new containers
and takes its time to roll back; the statuses and LastUpdate end the same.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import botocore.exceptions

from helpers.localcloud.emulators.mwaa import log_streams, plugins, requirements, startup_script, upgrade
from helpers.localcloud.emulators.mwaa.model import Environment
from helpers.localcloud.emulators.mwaa.runtime import MWAA_PLUGINS, fresh_home
from helpers.localcloud.emulators.mwaa.validation import bucket_name

SUPERSEDED = "superseded by a later operation"
START_FAILED = "AIRFLOW_START_FAILED"
# MWAA publishes no list of LastUpdate.Error.ErrorCode values; a requirements.txt that does not install is the
# customer's configuration, as are VPC endpoints that never come (the code used for those above).
REQUIREMENTS_FAILED = "INCORRECT_CONFIGURATION"


class StartFailure(str):
    """Why an environment cannot start (a str, as `_start_runtime` returns it) and the ErrorCode to report it under."""

    code = START_FAILED

    def __new__(cls, message: str, code: str = START_FAILED):
        failure = super().__new__(cls, message)
        failure.code = code
        return failure


def error_code(error: str) -> str:
    return getattr(error, "code", START_FAILED)


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
            transition(env, "CREATE_FAILED", op, error, error_code(error))
        else:
            transition(env, "AVAILABLE", op)

    def update(self, env: Environment, op, previous) -> None:
        """Restart Airflow on the new configuration; for a newer AirflowVersion, snapshot and migrate the DB first.
        Any failure rolls back (`_roll_back`)."""
        if previous is not None:
            previous.join()
        old, new = op.previous[0]["AirflowVersion"], env.config["AirflowVersion"]
        snapshot, code, stopped = None, "AIRFLOW_INSTALL_FAILED", False
        try:
            python = self.python_for(new)  # makes the target's venv on first use, while the old Airflow still runs
            if (early := self._resolve_early(env, python)):
                self._roll_back(env, op, early, early.code, None, running=True)
                return
            code = START_FAILED
            if old != new:
                code = "SNAPSHOT_FAILED"
                if not self.backend.transition(env, "CREATING_SNAPSHOT", op):
                    return  # superseded
                snapshot = upgrade.snapshot(self.home(env) / "airflow" / "airflow.db", self.home(env) / upgrade.SNAPSHOT)
                if not self.backend.transition(env, "UPDATING", op):
                    return
            stopped = True
            self._stop_runtime(env)
            error = None
            if old != new and not op.cancelled.is_set():
                code = "DB_MIGRATION_FAILED"
                error = self._migrate(env, python, old, new)
            if not error and not op.cancelled.is_set():
                code = START_FAILED
                error = self._start_runtime(env, op, python)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        if op.cancelled.is_set():
            return
        if error:
            # a StartFailure names its code; before the stop (the target's venv not made), only the configuration goes back
            self._roll_back(env, op, error, getattr(error, "code", code), snapshot, running=not stopped)
        else:
            self.backend.transition(env, "AVAILABLE", op)

    def _roll_back(self, env: Environment, op, error: str, code: str, snapshot, running: bool = False) -> None:
        """ROLLING_BACK: the configuration from before the update (and the DB snapshot an upgrade took) restored and
        started; UPDATE_FAILED (serving) with LastUpdate FAILED and `error`, or UNAVAILABLE when that does not start
        either. `running`: the old Airflow was never stopped, so only the configuration goes back."""
        transition = self.backend.transition
        if not transition(env, "ROLLING_BACK", op, error, code):
            return
        before, notes = op.previous
        if running:
            if self.backend.restore(env, op, before, notes):
                transition(env, "UPDATE_FAILED", op)
            return
        try:
            self._stop_runtime(env)
            airflow_home = self.home(env) / "airflow"
            if snapshot is not None:
                upgrade.restore(snapshot, airflow_home / "airflow.db")
            if before["AirflowVersion"] != env.config["AirflowVersion"]:
                upgrade.forget_generated_config(airflow_home)
            if not self.backend.restore(env, op, before, notes):
                return
            # the S3 objects the environment ran before, not S3's newest: what MWAA's snapshot restores
            failure = self._start_runtime(env, op, self.python_for(before["AirflowVersion"]), env.objects)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
        if op.cancelled.is_set():
            return
        if failure:
            self._stop_runtime(env)
            transition(env, "UNAVAILABLE", op, f"{error} The rollback failed too: {failure}", code)
        else:
            transition(env, "UPDATE_FAILED", op)

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

    def _start_runtime(self, env: Environment, op, python, pins: dict[str, str] | None = None) -> str | None:
        """Start Airflow for env with the interpreter `python` (its version's) and wait until healthy: None, or why not.
        `pins`: bucket/key -> version to read where the configuration names no version (a rollback's: what ran
        before)."""
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
        reader = ObjectReader(self.backend.client("s3"), pins or {})
        if (error := self._customise(env, op, runtime, home / "airflow", logs, reader)):
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
                with self.lock:
                    if env.operation is op:
                        env.objects = dict(reader.read)
                return None
            op.cancelled.wait(0.5)
        return f"Airflow did not become healthy within {self.settings['start_timeout_seconds']:.0f} s"

    def _log_group(self, env: Environment, module: str) -> str | None:
        return env.log_group(module) if env.config["LoggingConfiguration"][module]["Enabled"] else None

    def _customise(self, env: Environment, op, runtime, airflow_home, logs, s3=None) -> str | None:
        """Install the environment's plugins.zip, then its requirements.txt (wheels in the zip can be installed from
        it), and fetch its startup script (each S3 object at its version, when given) for `runtime` to use: None, or
        why the environment cannot start."""
        cfg, s3 = env.config, s3 or self.backend.client("s3")
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
        if (error := self._install_requirements(env, runtime, airflow_home, logs, s3)):
            return error
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

    def _resolve_early(self, env: Environment, python) -> StartFailure | None:
        """A requirements.txt that cannot resolve for the updated configuration (its version's constraints), found
        before the running Airflow is touched: the failure, logged as the install would log it; None otherwise,
        including when the file cannot be read or installs from plugins.zip (the new zip is not unpacked yet): the
        start reports those."""
        if not env.config.get("RequirementsS3Path"):
            return None
        try:
            source, text = self._requirements_file(env)
        except botocore.exceptions.ClientError:
            return None
        if any(requirements.is_index_option(line) for line in text.splitlines()):
            return None
        try:
            resolution = requirements.resolve(text, env.config["AirflowVersion"], None, python)
        except subprocess.TimeoutExpired:
            return None
        if resolution.ok:
            return None
        self._publish_requirements_log(env, self.home(env) / "airflow", source, resolution, None)
        return StartFailure(requirements.error_message(resolution.error), REQUIREMENTS_FAILED)

    def _requirements_file(self, env: Environment, s3=None) -> tuple[str, str]:
        """The environment's requirements.txt at its object version: how the log names it, and its text. Raises
        botocore's ClientError when it cannot be read."""
        cfg = env.config
        key, version = cfg["RequirementsS3Path"], cfg.get("RequirementsS3ObjectVersion")
        data = plugins.fetch(s3 or self.backend.client("s3"), bucket_name(cfg["SourceBucketArn"]), key, version)
        return (f"{key} (version {version})" if version else key), data.decode("utf-8-sig", errors="replace")

    def _publish_requirements_log(self, env: Environment, airflow_home, source: str, resolution, done) -> None:
        logs = self.backend.client("logs")
        self._create_log_groups(env, logs)
        lines, stream = requirements.log_lines(source, resolution, done), requirements.stream_name()
        log_streams.publish(logs, None, stream, lines, airflow_home / "logs" / "requirements_install.log")
        for module in requirements.LOG_MODULES:
            if (group := self._log_group(env, module)):
                log_streams.publish(logs, group, stream, lines, None)

    def _install_requirements(self, env: Environment, runtime, airflow_home, logs, s3=None) -> str | None:
        """Resolve the environment's requirements.txt for its Airflow version, install it into its overlay folder
        and put that on `runtime`'s PYTHONPATH: None, or why the environment cannot start (nothing installed then,
        and the overlay left as it was). No requirements.txt: no overlay."""
        cfg, overlay = env.config, airflow_home / requirements.FOLDER
        if not (key := cfg.get("RequirementsS3Path")):
            shutil.rmtree(overlay, ignore_errors=True)
            return None
        try:
            source, text = self._requirements_file(env, s3)
        except botocore.exceptions.ClientError as exc:
            return _unreadable("RequirementsS3Path", bucket_name(cfg["SourceBucketArn"]), key,
                               cfg.get("RequirementsS3ObjectVersion"), exc)
        python = runtime.python  # the environment's version's interpreter (Shared.python_for)
        try:
            resolution = requirements.resolve(text, cfg["AirflowVersion"], airflow_home / plugins.FOLDER, python)
            done = requirements.install(resolution, python, overlay) if resolution.ok else None
        except subprocess.TimeoutExpired:
            resolution = requirements.Resolution(ok=False, error=requirements.TIMED_OUT)
            done = None
        self._publish_requirements_log(env, airflow_home, source, resolution, done)
        if done is None or not done.ok:
            return StartFailure(requirements.error_message(done.error if done else resolution.error), REQUIREMENTS_FAILED)
        runtime.requirements_folder = overlay
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


class ObjectReader:
    """The S3 client an environment's start reads its plugins.zip, requirements.txt and startup script with: records
    the version of each object read (`read`, bucket/key -> VersionId) and, for a request that names no version, reads the
    pinned one (`pins`) instead of the newest. A rollback pins what the environment ran before the update: S3's
    newest object may be the one that made the update fail."""

    def __init__(self, s3, pins: dict[str, str]):
        self._s3, self.pins, self.read = s3, pins, {}

    def get_object(self, **request):
        where = f"{request.get('Bucket')}/{request.get('Key')}"
        if "VersionId" not in request and where in self.pins:
            request["VersionId"] = self.pins[where]
        answer = self._s3.get_object(**request)
        if answer.get("VersionId"):
            self.read[where] = answer["VersionId"]
        return answer

    def __getattr__(self, name):
        return getattr(self._s3, name)
