"""Notebook 10's plumbing: names, the emulation note, the version an environment starts from, waiting for an update
and reading how it ended, the startup-script limit, the interpreter of a target Airflow version for the checks before
an upgrade, the findings table, clean-up.

The notebook makes the calls that are the lesson (the requests, the files it uploads, the scripts, the checks'
commands); what is here waits, tabulates and deletes.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.aws import cleanup, cloud, mwaa, s3, tags
from helpers.errors import WorkbookError
from helpers.paths import REPO_ROOT
from helpers.tooling import airflow_versions

NOTEBOOK = "10_operations"
FROM_VERSION = "3.0.6"  # the environment starts here and is upgraded in place
TO_VERSION = "3.3.1"
DAG_IDS = ("environment_check", "daily_report")
EXERCISE_DAG = "operations_exercise"
LEGACY_DAGS = REPO_ROOT / "sample_data" / "airflow2_dags"
AIRFLOW_RULES = ("AIR301", "AIR302", "AIR311", "AIR312")  # ruff's Airflow 3 migration rules
STARTUP_LIMIT_SECONDS = 300.0  # MWAA's: a startup script gets 5 minutes, then the component fails to start
LOCAL_STARTUP_LIMIT_SECONDS = 8.0
ENDED = ("AVAILABLE", "UPDATE_FAILED", "UNAVAILABLE")  # where an update ends: done or rolled back, or not even that
STATUS_COLOURS = {"UPDATING": "#2980b9", "CREATING_SNAPSHOT": "#8e44ad", "ROLLING_BACK": "#e67e22",
                  "AVAILABLE": "#2e8b57", "UPDATE_FAILED": "#c0392b", "UNAVAILABLE": "#7f8c8d"}
EMULATED = ("Emulated by the local cloud: each Airflow version runs in a virtual environment of its own, made on first "
            "use from that MWAA version's constraints (the same packages as its image, not its container); "
            "requirements are resolved and installed with uv, not pip; the startup-script limit is "
            f"{LOCAL_STARTUP_LIMIT_SECONDS:.0f} s instead of 5 minutes, so its overrun takes seconds.")


def service_note() -> str:
    return EMULATED if cloud.settings().is_local else "MWAA, S3 and CloudWatch Logs: the real services"


def environment_name() -> str:
    return f"mwaa-workbook-{NOTEBOOK.split('_', 1)[0]}-ops"


def startup_limit() -> float:
    """The startup-script limit in force: MWAA's 5 minutes; locally shortened (emulator setting) so the overrun of
    step 2 takes seconds. The notebook's script sleeps past whichever applies."""
    if not cloud.settings().is_local:
        return STARTUP_LIMIT_SECONDS
    return _local_mwaa_settings({"startup_script_timeout_seconds": LOCAL_STARTUP_LIMIT_SECONDS})["startup_script_timeout_seconds"]


def _local_mwaa_settings(values: dict[str, float]) -> dict[str, float]:
    """The local MWAA's emulation settings (shared by its environments), after setting `values`."""
    import urllib.request

    from helpers import localcloud

    request = urllib.request.Request(f"{localcloud.endpoint()}/_workbook/mwaa/config", method="POST",
                                     data=json.dumps(values).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def airflow_python(version: str) -> Path:
    """An interpreter whose `-m airflow` is Airflow `version` with MWAA's packages for it: the checks before an
    upgrade run the target version here, on this machine, on either target (as MWAA's local runner does)."""
    return airflow_versions.python(version)


def resolve(requirements_txt: str, version: str) -> dict:
    """requirements.txt resolved against MWAA `version`'s constraints, as the image's test-requirements does."""
    return airflow_versions.resolve(requirements_txt, version)


# --- updates -----------------------------------------------------------------------------------------------------------

@dataclass
class Update:
    """How an update went: the statuses seen (with seconds since the wait began) and LastUpdate at the end."""

    timeline: list[tuple[float, str]]
    last: dict

    @property
    def statuses(self) -> list[str]:
        """Each status once, in order (the timeline repeats the last one at the end of the wait)."""
        return [status for i, (_, status) in enumerate(self.timeline) if i == 0 or self.timeline[i - 1][1] != status]

    @property
    def seconds(self) -> float:
        return self.timeline[-1][0]

    def __str__(self) -> str:
        return " -> ".join(self.statuses) + f" | LastUpdate: {self.last.get('Status')}"


def wait_for_update(name: str, status_queue: str, timeout: float = 3600) -> Update:
    """Wait for the update under way to end, successfully or not, then read its statuses from the environment's
    status-change events (`status_queue`, from `events.status_event_queue`): a poll can miss a status that lasts a
    second. A failed update rolls back (ROLLING_BACK); the environment then runs its previous configuration with the
    status UPDATE_FAILED (AVAILABLE again after the next successful update), LastUpdate.Status FAILED and the reason in
    LastUpdate.Error; UNAVAILABLE if the rollback failed."""
    from helpers.progress import progress

    started = time.monotonic()
    with progress(f"{name}: updating", total=int(timeout), unit="s") as bar:
        while True:
            env = mwaa.describe(name)
            elapsed = time.monotonic() - started
            last = env.get("LastUpdate", {})
            if env["Status"] in ENDED and last.get("Status") != "PENDING":
                break
            if elapsed > timeout:
                raise WorkbookError(f"Environment {name} still {env['Status']} after {timeout:.0f} s; check it with GetEnvironment.")
            bar.update(int(elapsed) - bar.n)
            time.sleep(0.5)
    return Update(_update_timeline(name, status_queue, env["Status"], round(time.monotonic() - started, 1)), last)


def _update_timeline(name: str, status_queue: str, ended: str, seconds: float, wait: float = 60) -> list[tuple[float, str]]:
    """This update's statuses, from its first UPDATING event to the one it ended in, with seconds since the first.
    Events can arrive after the status changed (on AWS): read until the last one is in."""
    from helpers.aws import events

    batches: list[pd.DataFrame] = []
    deadline = time.monotonic() + wait
    while True:
        batches += [batch for batch in [events.received(status_queue, name, wait_seconds=1)] if len(batch)]
        found = pd.concat(batches, ignore_index=True) if batches else events.received(status_queue, name, wait_seconds=0)
        starts = found.index[(found.status == "UPDATING") & found.previous.isin(("AVAILABLE", *ENDED))]
        mine = found.loc[starts[-1]:] if len(starts) else found.iloc[0:0]
        if (len(mine) and mine.status.iloc[-1] == ended) or time.monotonic() > deadline:
            break
    if not len(mine):
        return [(0.0, "UPDATING"), (seconds, ended)]  # no events reached the queue: what the polls saw
    times = pd.to_datetime(mine.time, utc=True, format="ISO8601")
    offsets = (times - times.iloc[0]).dt.total_seconds().tolist()
    timeline = list(zip(offsets, mine.status, strict=True))
    return timeline + [(max(seconds, timeline[-1][0]), ended)]


def log_messages(name: str, log_type: str, stream_prefix: str, contains: str = "") -> list[str]:
    """The messages of an environment's CloudWatch log streams starting with `stream_prefix` (oldest first)."""
    group = mwaa.describe(name)["LoggingConfiguration"][log_type]["CloudWatchLogGroupArn"].split(":log-group:", 1)[1]
    logs = cloud.client("logs")
    found = logs.filter_log_events(logGroupName=group, logStreamNamePrefix=stream_prefix)["events"]
    return [e["message"] for e in sorted(found, key=lambda e: e["timestamp"]) if contains in e["message"]]


# --- checks before an upgrade ----------------------------------------------------------------------------------------

def ruff_findings(output: str) -> pd.DataFrame:
    """ruff's JSON output as findings: file, line, rule, message."""
    rows = [{"check": "ruff", "source": f"{Path(f['filename']).name}:{f['location']['row']}", "rule": f["code"],
             "finding": f["message"].split(";")[0]} for f in json.loads(output or "[]")]
    return pd.DataFrame(rows, columns=["check", "source", "rule", "finding"])


def lint_findings(output: str) -> pd.DataFrame:
    """`airflow config lint`'s report as findings (one per `  - ` line, its terminal colours dropped)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    rows = [{"check": "config lint", "source": "AirflowConfigurationOptions", "rule": "",
             "finding": line.strip()[2:].replace("`", "")} for line in plain.splitlines() if line.strip().startswith("- ")]
    return pd.DataFrame(rows, columns=["check", "source", "rule", "finding"])


def parse_findings(import_errors: dict[str, str]) -> pd.DataFrame:
    """DagBag import errors (file -> traceback) as findings: the last line of each."""
    rows = [{"check": "DAG parse", "source": Path(path).name, "rule": "",
             "finding": [ln for ln in error.strip().splitlines() if ln.strip()][-1].strip()}
            for path, error in sorted(import_errors.items())]
    return pd.DataFrame(rows, columns=["check", "source", "rule", "finding"])


def requirement_findings(resolution: dict) -> pd.DataFrame:
    lines = [] if resolution["ok"] else [ln.strip() for ln in resolution["error"].splitlines() if ln.strip()][:2]
    rows = [{"check": "requirements", "source": "requirements.txt", "rule": "", "finding": line} for line in lines]
    return pd.DataFrame(rows, columns=["check", "source", "rule", "finding"])


# --- clean-up ----------------------------------------------------------------------------------------------------------

def clean_up(name: str, bucket: str, home: str) -> pd.DataFrame:
    """The notebook's environment (with its log groups), its files under `home` in the workshop's bucket (every object
    version), then whatever else carries its tag. One row per resource."""
    if cloud.settings().is_local:  # MWAA's limit again, for whatever runs next on this local cloud
        _local_mwaa_settings({"startup_script_timeout_seconds": STARTUP_LIMIT_SECONDS})
    tagged = cleanup.delete_tagged(NOTEBOOK)  # the environment first (ORDER), then its log groups
    rows = [{"resource": arn.split(":", 5)[-1], "deleted": bool(done)} for arn, done in zip(tagged.arn, tagged.deleted, strict=True)]
    if mwaa.delete_environment(name):  # not tagged (an earlier run's, made before its tags): by name
        rows.append({"resource": f"environment/{name}", "deleted": True})
    removed = s3.delete_prefix(bucket, f"{home}/")
    if removed:
        rows.append({"resource": f"s3://{bucket}/{home}/ ({removed} object versions)", "deleted": True})
    return pd.DataFrame(rows, columns=["resource", "deleted"])


def remove_environment(name: str, bucket: str, home: str) -> None:
    """An interrupted run's environment (with its log groups) and its files under `home`, so the chapter starts from
    its beginning (on 3.0.6, with nothing installed). The status queue and its rule stay: on AWS a queue deleted
    cannot be created again under its name for 60 seconds."""
    region, account = cloud.settings().region, cloud.account_id()
    cleanup.delete_arn(f"arn:aws:airflow:{region}:{account}:environment/{name}")
    s3.delete_prefix(bucket, f"{home}/")


def leftovers(name: str, bucket: str, home: str) -> pd.DataFrame:
    found = [{"what": "tagged", "name": arn} for arn in tags.tagged_resources(NOTEBOOK).arn]
    if mwaa.status(name) is not None:
        found.append({"what": "environment", "name": name})
    found += [{"what": "object", "name": key} for key in s3.list_keys(bucket, f"{home}/")]
    return pd.DataFrame(found, columns=["what", "name"])


# --- figures -----------------------------------------------------------------------------------------------------------

def what_an_update_touches(name: str) -> Path:
    """The files an update names (each at an S3 object version) and what each component does with them, in order."""
    from helpers.tooling.charts import box_diagram

    s3_blue, step, airflow = "#d6eaf8", "#fdebd0", "#d5f5e3"
    boxes = {
        "startup": ("startup.sh @ version", 0.2, 3.6, 2.8, s3_blue),
        "req": ("requirements.txt @ version", 0.2, 2.4, 2.8, s3_blue),
        "plugins": ("plugins.zip @ version", 0.2, 1.2, 2.8, s3_blue),
        "dags": ("dags/ (synced, no version)", 0.2, 0.0, 2.8, s3_blue),
        "run": ("1. run the startup script\n(MWAA_AIRFLOW_COMPONENT)", 4.2, 3.6, 2.9, step),
        "pip": ("2. pip install -r requirements.txt\n-c essential constraints", 4.2, 2.4, 2.9, step),
        "unzip": ("3. plugins.zip -> $AIRFLOW_HOME/plugins", 4.2, 1.2, 2.9, step),
        "airflow": ("4. Airflow <version>: webserver,\nscheduler, workers start", 8.2, 0.9, 3.0, airflow),
    }
    arrows = [("startup", "run", "", "#34495e", False), ("req", "pip", "", "#34495e", False),
              ("plugins", "unzip", "", "#34495e", False), ("dags", "airflow", "DAG files", "#34495e", True),
              ("run", "airflow", "exports", "#34495e", False), ("pip", "airflow", "", "#34495e", False),
              ("unzip", "airflow", "", "#34495e", False)]
    return box_diagram(boxes, arrows, size=(10, 4.2), limits=(11.4, 4.8), height=0.9,
                       title="What UpdateEnvironment starts, in every component (a failure rolls it all back)",
                       name=name)


def updates_figure(updates: dict[str, Update], name: str) -> Path:
    """One bar per update, coloured by the status the environment was in, against seconds since the request."""
    import matplotlib.pyplot as plt

    from helpers.tooling.charts import _save

    fig, ax = plt.subplots(figsize=(9, 1.3 + 0.55 * len(updates)))
    seen = set()
    for row, update in enumerate(updates.values()):
        for (start, status), (end, _) in zip(update.timeline, update.timeline[1:], strict=False):
            ax.barh(row, max(end - start, 0.2), left=start, color=STATUS_COLOURS.get(status, "#bdc3c7"),
                    label=status if status not in seen else None)
            seen.add(status)
        ax.text(update.seconds, row, f"  {update.last.get('Status', '')}", va="center", fontsize=8)
    ax.set_yticks(range(len(updates)), list(updates))
    ax.invert_yaxis()
    ax.set_xlabel("seconds since UpdateEnvironment")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("The chapter's updates: how each one went")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=7, frameon=False, ncols=6)
    return _save(fig, name)
