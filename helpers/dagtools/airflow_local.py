"""Apache Airflow on this machine: an AIRFLOW_HOME under the state folder, its metadata DB, and DAG test runs.

`run_dag` runs a DAG file from `dags/` with `dag.test()` in a subprocess (real Airflow, real task
execution) and returns a `DagRunResult`: task instances as a DataFrame, task logs, XComs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from helpers.aws import cloud
from helpers.errors import WorkbookError
from helpers.paths import DAGS_DIR, REPO_ROOT, shown, state_dir
from helpers.progress import progress


def airflow_home() -> Path:
    home = state_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    return home


def airflow_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # A notebook kernel forces colour on child processes; task logs are read as text, so turn it off.
    for var in ("FORCE_COLOR", "CLICOLOR_FORCE", "CLICOLOR"):
        env.pop(var, None)
    env.update(cloud.subprocess_env())
    env.update({
        "AIRFLOW_HOME": str(airflow_home()),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "NO_COLOR": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
    })
    env.update(extra)
    return env


def ensure_db() -> None:
    """Migrate the metadata DB once per Airflow version; later calls are free."""
    home = airflow_home()
    marker = home / f".migrated-{version('apache-airflow')}"
    if marker.exists():
        return
    log = home / "migrate.log"
    with open(log, "w") as out:
        done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=airflow_env(), stdout=out,
                              stderr=subprocess.STDOUT, timeout=300)
    if done.returncode != 0:
        raise WorkbookError(f"`airflow db migrate` failed; see {shown(log)}.")
    marker.touch()


_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")
_TIMESTAMPED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def split_task_logs(text: str) -> dict[str, str]:
    """Cut a `dag.test()` console log into one log per task, using its start/end markers."""
    logs: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if (m := _START.search(line)):
            current = m.group(1)
            logs.setdefault(current, [])
        if current:
            logs[current].append(line)
        if _END.search(line):
            current = None
    return {task: "\n".join(lines) for task, lines in logs.items()}


@dataclass
class DagRunResult:
    dag_id: str
    run_id: str
    state: str
    tasks: pd.DataFrame
    xcoms: pd.DataFrame
    logs: dict[str, str] = field(repr=False)
    seconds: float
    log_file: Path
    graph: dict = field(default_factory=dict, repr=False)  # the DAG's tasks and dependencies, for dag_figures.draw

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    def xcom(self, task: str, key: str = "return_value"):
        rows = self.xcoms[(self.xcoms.task == task) & (self.xcoms.key == key)]
        if rows.empty:
            raise WorkbookError(f"No XCom {key!r} from task {task!r}; tasks with XComs: {sorted(set(self.xcoms.task))}.")
        return rows.iloc[0].value

    def task_output(self, task: str) -> str:
        """What the task itself printed, without Airflow's own log lines."""
        if task not in self.logs:
            raise WorkbookError(f"No log for task {task!r}; tasks: {sorted(self.logs)}.")
        return "\n".join(line for line in self.logs[task].splitlines() if line.strip() and not _TIMESTAMPED.match(line))


def _tasks_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["task", "map_index", "state", "start", "end", "seconds", "try", "operator"])
    for col in ("start", "end"):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    return frame.sort_values(["start", "task"], na_position="last").reset_index(drop=True)


def run_dag(dag_file: str, dag_id: str | None = None, conf: dict | None = None, timeout: float = 600) -> DagRunResult:
    """Run a DAG from `dags/` with real Airflow (`dag.test()`), with a progress bar over its tasks."""
    path = (DAGS_DIR / dag_file).resolve()
    if not path.is_file() or DAGS_DIR.resolve() not in path.parents:
        raise WorkbookError(f"No DAG file {dag_file!r} in dags/: pick one of {sorted(p.name for p in DAGS_DIR.glob('*.py'))}.")
    ensure_db()
    runs = airflow_home() / "runs"
    runs.mkdir(exist_ok=True)
    stamp = f"{path.stem}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    log_file, out = runs / f"{stamp}.log", runs / f"{stamp}.json"
    cmd = [sys.executable, "-m", "helpers.dagtools.dag_test_runner", "--file", str(path), "--out", str(out),
           "--conf", json.dumps(conf or {})] + (["--dag-id", dag_id] if dag_id else [])
    started = time.monotonic()
    with open(log_file, "w") as log, progress(f"running {dag_id or path.stem}", unit=" tasks") as bar:
        proc = subprocess.Popen(cmd, env=airflow_env(), stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        try:
            while proc.poll() is None:
                if time.monotonic() - started > timeout:
                    proc.kill()
                    raise WorkbookError(f"DAG run exceeded {timeout:.0f} s and was stopped; see {shown(log_file)}.")
                done = len(_END.findall(log_file.read_text(errors="replace")))
                if done != bar.n:
                    bar.update(done - bar.n)
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                proc.kill()
    seconds = round(time.monotonic() - started, 1)
    if not out.exists():
        raise WorkbookError(f"Airflow exited without a result (code {proc.returncode}); see {shown(log_file)}.")
    result = json.loads(out.read_text())
    if "error" in result:
        raise WorkbookError(f"{dag_file} could not be run: {result['detail']}")
    return DagRunResult(
        dag_id=result["dag_id"], run_id=result["run_id"], state=result["state"], tasks=_tasks_frame(result["tasks"]),
        xcoms=pd.DataFrame(result["xcoms"], columns=["task", "key", "map_index", "value"]),
        logs=split_task_logs(log_file.read_text(errors="replace")), seconds=seconds, log_file=log_file,
        graph=result.get("graph", {}),
    )


@dataclass
class ParsedFolder:
    """What Airflow's DAG processor found in a folder: one row per DAG, and the files it could not import."""

    dags: pd.DataFrame  # dag_id, file (relative to the folder)
    import_errors: dict[str, str]  # file -> the error's last line


def parse_dags(folder: Path | str) -> ParsedFolder:
    """Parse every DAG file under `folder`, sub-folders included, as an MWAA environment parses its DagS3Path."""
    folder = Path(folder).resolve()
    # parsing needs no cloud and no metadata DB: only Airflow's home and the folder
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home()), "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "helpers.dagtools.airflow_local", str(folder)], env=env, capture_output=True, text=True,
                          timeout=300, cwd=REPO_ROOT)
    if done.returncode != 0:
        raise WorkbookError(f"Airflow could not parse {folder}: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    dags = pd.DataFrame(found["dags"], columns=["dag_id", "file"]).sort_values("dag_id").reset_index(drop=True)
    return ParsedFolder(dags, found["import_errors"])


def _parse_folder(folder: str) -> dict:
    from airflow.dag_processing.dagbag import DagBag

    def relative(path: str) -> str:
        return str(Path(path).relative_to(folder)) if Path(path).is_absolute() else path

    bag = DagBag(dag_folder=folder)
    return {"dags": [{"dag_id": dag_id, "file": relative(dag.fileloc)} for dag_id, dag in bag.dags.items()],
            "import_errors": {relative(file): error.strip().splitlines()[-1] for file, error in bag.import_errors.items()}}


if __name__ == "__main__":
    print(json.dumps(_parse_folder(sys.argv[1])))
