"""The local cloud: lifecycle of the loopback services that stand in for AWS (and, later, Snowflake, PostgreSQL).

    python -m helpers.localcloud up | down | status | env

`ensure_up()` is what notebooks call: it starts what is not running and is a no-op otherwise.
State (ports, PIDs, tokens) lives in `<state dir>/localcloud/state.json`.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from helpers.errors import WorkbookError
from helpers.localcloud.emulators.local_aws import ACCOUNT_ID
from helpers.localcloud.services import SERVICES, Record
from helpers.paths import REPO_ROOT, state_dir

# The local cloud accepts any credentials; these dummies keep boto3 from looking for real ones.
LOCAL_ACCESS_KEY = "testing"
LOCAL_SECRET_KEY = "testing"
LOCAL_ACCOUNT_ID = ACCOUNT_ID  # every local resource lives in moto's default account


def _dir() -> Path:
    path = state_dir() / "localcloud"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _state_file() -> Path:
    return _dir() / "state.json"


@contextmanager
def _locked():
    """One `up`/`down` at a time, across processes (a notebook and a terminal may both call them)."""
    with open(_dir() / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read() -> dict[str, Record]:
    try:
        raw = json.loads(_state_file().read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        return {}  # a torn or hand-edited file is treated as no state; `up` starts afresh
    return {name: Record(**rec) for name, rec in raw.get("services", {}).items()}


def _write(records: dict[str, Record]) -> None:
    tmp = _state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps({"services": {n: asdict(r) for n, r in records.items()}}, indent=2))
    tmp.replace(_state_file())


def _spawn_env_ready() -> None:
    # Service processes import `helpers`; make that work however the workbook was installed.
    path = os.environ.get("PYTHONPATH", "")
    if str(REPO_ROOT) not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), path) if p)


def up(quiet: bool = False) -> dict[str, Record]:
    """Start every service that is not running and healthy. Starting twice is a no-op.

    Services start in `SERVICES` order and may use earlier ones (Snowflake reads S3 from the AWS service): once one
    is started, the later ones are restarted too, so none keeps the address of a server that is gone."""
    _spawn_env_ready()
    with _locked():
        records = _read()
        started = False
        for name, service in SERVICES.items():
            record = records.get(name)
            healthy = bool(record) and service.healthy(record)
            if healthy and not started:
                continue
            if record:
                if not quiet and not healthy:
                    print(f"Local {name} service from an earlier run is gone or not ours (pid {record.pid}); starting a new one.")
                service.stop(record)
            started = True
            records[name] = service.start(_dir())
            _write(records)
        return records


def down() -> list[str]:
    """Stop every recorded service by PID and forget the state. Returns what was stopped."""
    with _locked():
        stopped = [name for name, record in _read().items() if SERVICES.get(name) and SERVICES[name].stop(record)]
        _state_file().unlink(missing_ok=True)
        return stopped


def running() -> dict[str, Record]:
    """Healthy services only (no side effects)."""
    return {name: rec for name, rec in _read().items() if name in SERVICES and SERVICES[name].healthy(rec)}


def status() -> list[dict]:
    rows = []
    records = _read()
    for name, service in SERVICES.items():
        rec = records.get(name)
        state = "running" if rec and service.healthy(rec) else ("stale" if rec else "stopped")
        rows.append({"service": name, "state": state, "url": rec.url if rec and state == "running" else "",
                     "pid": rec.pid if rec else None, "emulated_by": service.emulated_by,
                     "start_seconds": rec.start_seconds if rec else None})
    return rows


def require(name: str = "aws") -> Record:
    """The running record of a service, or a one-line error saying how to start it."""
    rec = running().get(name)
    if rec is None:
        raise WorkbookError(
            "The local cloud is not running: start it with `python -m helpers.localcloud up` "
            "(or `helpers.localcloud.ensure_up()` in a notebook)."
        )
    return rec


def endpoint(name: str = "aws") -> str:
    return require(name).url


def exports() -> dict[str, str]:
    """Environment for any AWS SDK or CLI to use the running local cloud."""
    records = running()
    if "aws" not in records:
        require("aws")
    from helpers.config import settings

    region = settings().region
    env = {
        "WORKBOOK_TARGET": "local",
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        # boto3's mwaa client prefixes hosts (api./env.), which cannot resolve on loopback.
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
    }
    for name, rec in records.items():
        env.update(SERVICES[name].exports(rec))
    return env


def api_calls(reset: bool = False) -> dict[str, int]:
    """Calls the local cloud served since the last reset, as {"service:Action": count} (JSON-protocol services)."""
    import urllib.request

    request = urllib.request.Request(f"{endpoint()}/_workbook/calls", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


def ensure_up() -> None:
    """Start the local cloud if needed and say, in one line per service, what is emulated."""
    records = up()
    for name, rec in records.items():
        print(f"Local cloud {name}: {SERVICES[name].emulated_by} (emulated) at {rec.url}, up in {rec.start_seconds:.1f} s")
