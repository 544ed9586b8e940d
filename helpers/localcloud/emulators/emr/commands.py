"""What a step's HadoopJarStep becomes on this machine: a local command line and the S3 files it needs (emulated EMR).

Pure: no S3, no processes. `plan` reads the step as EMR's master node would and answers with a `Plan`, or raises
`Unsupported` with the reason the step fails (that reason becomes the step's FailureDetails).

- `command-runner.jar` runs its first argument as a command: `spark-submit [options] app.py [args]` runs the
  application with plain Python (there is no Spark here; its `--py-files` go on PYTHONPATH, `--files` into its
  working folder, `spark.yarn.appMasterEnv.*`/`spark.executorEnv.*` settings into its environment); `bash`/`sh`
  and other commands found on the step's PATH run as they are. Hadoop-ecosystem tools (hive-script, s3-dist-cp,
  hadoop-streaming ...) are not installed: they fail.
- `script-runner.jar` downloads its first argument (an s3:// script) and runs it with the rest as arguments.
- Any other jar is a JVM program, which cannot run here: the step fails saying so.
"""

from __future__ import annotations

import posixpath
import shutil
from dataclasses import dataclass, field

SPARK_NOTE = "emulated: spark-submit ran with plain Python, no Spark"
# spark-submit options that take a value (everything else starting with "--" is a flag).
SPARK_VALUE_OPTIONS = {
    "--master", "--deploy-mode", "--class", "--name", "--jars", "--packages", "--exclude-packages", "--repositories",
    "--py-files", "--files", "--archives", "--conf", "-c", "--properties-file", "--driver-memory",
    "--driver-java-options", "--driver-library-path", "--driver-class-path", "--executor-memory", "--proxy-user",
    "--driver-cores", "--total-executor-cores", "--executor-cores", "--num-executors", "--principal", "--keytab",
    "--queue",
}
# Installed on a real EMR master node by its applications, never here.
CLUSTER_TOOLS = {"hadoop", "hadoop-streaming", "hdfs", "yarn", "mapred", "hive", "hive-script", "beeline", "pig",
                 "pig-script", "s3-dist-cp", "spark-shell", "spark-sql", "pyspark", "presto-cli", "trino-cli", "hbase",
                 "flink", "sqoop", "oozie", "zeppelin"}
S3_SCHEMES = ("s3://", "s3n://", "s3a://")


class Unsupported(Exception):
    """The step cannot run on the local EMR; the message says why (it becomes the step's failure reason)."""


@dataclass
class Plan:
    argv: list[str]  # names in `downloads` are relative to the step's working folder
    downloads: dict[str, str] = field(default_factory=dict)  # s3 URI -> file name in the working folder
    pythonpath: list[str] = field(default_factory=list)  # relative to the working folder
    note: str | None = None  # the first line of the step's stderr: what was emulated
    env: dict[str, str] = field(default_factory=dict)  # added to the step's environment


def is_s3(uri: str) -> bool:
    return uri.startswith(S3_SCHEMES)


def s3_location(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3://, s3n:// or s3a:// URI."""
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    return bucket, key


def plan(jar: str, args: list[str], python: str, path: str) -> Plan:
    """The local command for a step. `python`: the interpreter scripts run with; `path`: the step's PATH."""
    name = posixpath.basename(jar or "")
    if name == "command-runner.jar":
        if not args:
            raise Unsupported("command-runner.jar needs a command as its first argument")
        return _command(args, python, path)
    if name == "script-runner.jar":
        if not args or not is_s3(args[0]):
            raise Unsupported("script-runner.jar needs an s3:// script as its first argument")
        script = _local_name(args[0])
        return Plan([f"./{script}", *args[1:]], {args[0]: script})
    raise Unsupported(f"The local EMR cannot run {jar or 'a step without a jar'}: it runs command-runner.jar "
                      "(spark-submit with a Python application, bash, other local commands) and script-runner.jar "
                      "steps, not JVM programs (emulated EMR)")


def _command(args: list[str], python: str, path: str) -> Plan:
    program = args[0]
    if program == "spark-submit":
        return spark_submit(args[1:], python)
    if program in CLUSTER_TOOLS:
        raise Unsupported(f"command-runner.jar: {program} is an EMR application the local EMR does not have "
                          "(it runs spark-submit with Python applications, bash and local commands; emulated EMR)")
    if program in ("python", "python3"):
        return Plan([python, *args[1:]])
    if shutil.which(program, path=path) is None:
        raise Unsupported(f"command-runner.jar: {program}: command not found on the local EMR (emulated EMR)")
    return Plan(list(args))


def spark_submit(args: list[str], python: str) -> Plan:
    """spark-submit's command line read the way Spark reads it; the application runs with plain Python."""
    options: dict[str, list[str]] = {}
    position = 0
    while position < len(args) and args[position].startswith("-"):
        option, has_value, value = args[position].partition("=")
        if option in SPARK_VALUE_OPTIONS and not has_value:
            if position + 1 >= len(args):
                raise Unsupported(f"spark-submit: option {option} needs a value")
            value, position = args[position + 1], position + 1
        options.setdefault(option, []).append(value)
        position += 1
    if position >= len(args):
        raise Unsupported("spark-submit: no application given (a .py file after the options)")
    app, app_args = args[position], args[position + 1:]
    if "--class" in options or not app.endswith(".py"):
        raise Unsupported(f"spark-submit of a JVM application ({app}) cannot run on the local EMR: there is no Spark; "
                          "Python applications run with plain Python (emulated EMR)")
    downloads: dict[str, str] = {}

    def local(uri: str) -> str:
        uri = uri.removeprefix("file://")
        if not is_s3(uri):
            return uri
        downloads[uri] = _local_name(uri)
        return downloads[uri]

    pythonpath = [local(f) for f in _listed(options, "--py-files")]
    for extra in _listed(options, "--files"):  # Spark places --files in the driver's working folder
        local(extra)
    return Plan([python, local(app), *app_args], downloads, pythonpath, SPARK_NOTE, _driver_env(options))


def _driver_env(options: dict[str, list[str]]) -> dict[str, str]:
    """Environment variables Spark would give the driver (cluster mode) or executors: with plain Python there is
    one process, which gets both."""
    env = {}
    for setting in options.get("--conf", []) + options.get("-c", []):
        key, _, value = setting.partition("=")
        for prefix in ("spark.yarn.appMasterEnv.", "spark.executorEnv."):
            if key.startswith(prefix) and key != prefix:
                env.setdefault(key[len(prefix):], value)
    return env


def _listed(options: dict[str, list[str]], option: str) -> list[str]:
    return [item for value in options.get(option, []) for item in value.split(",") if item]


def _local_name(uri: str) -> str:
    name = posixpath.basename(uri.rstrip("/"))
    if not name or name in (".", ".."):
        raise Unsupported(f"{uri} does not name a file")
    return name
