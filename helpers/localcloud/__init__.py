"""The local cloud: lifecycle of the loopback services that stand in for AWS, Snowflake and (Redshift) PostgreSQL.

    python -m helpers.localcloud up [postgres] | down | status | env

`ensure_up()` is what notebooks call: it starts what is not running and is a no-op otherwise. Services marked
`on_demand` (PostgreSQL) start only when named: `ensure_up("postgres")`; once started, `up`, `down` and `status`
treat them as the others.
State (ports, PIDs, tokens) lives in `<state dir>/localcloud/state.json`; the processes of local MWAA environments
are named in `<state dir>/localcloud/processes/` (see `processes`), so `up`, `down` and `status` find and stop
them even after the gateway that started them was killed.

This package's modules `processes` and `snowflake_trust` are also used by the servers it starts: the services are
imported lazily here, so importing those two does not pull in the client side.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from helpers.errors import WorkbookError
from helpers.localcloud import processes
from helpers.localcloud.emulators.local_aws import ACCOUNT_ID
from helpers.paths import REPO_ROOT, state_dir

if TYPE_CHECKING:
    from helpers.localcloud.services import ProcessService, Record

# The local cloud accepts any credentials; these dummies keep boto3 from looking for real ones.
LOCAL_ACCESS_KEY = "testing"
LOCAL_SECRET_KEY = "testing"
LOCAL_ACCOUNT_ID = ACCOUNT_ID  # every local resource lives in moto's default account
FIX = "run `python -m helpers.localcloud down`, then `python -m helpers.localcloud up`"


_SERVICES: dict[str, ProcessService] = {}


def _services() -> dict[str, ProcessService]:
    """`SERVICES`, in start order: each may use the ones before it (Snowflake reads S3 stages from the AWS service)."""
    if not _SERVICES:
        from helpers.localcloud.postgres import PostgresService
        from helpers.localcloud.services import AwsService
        from helpers.localcloud.snowflake import SnowflakeService

        _SERVICES.update({service.name: service for service in (AwsService(), SnowflakeService(), PostgresService())})
    return _SERVICES


def __getattr__(name: str):
    if name == "SERVICES":
        return _services()
    if name == "Record":
        from helpers.localcloud.services import Record

        return Record
    raise AttributeError(name)


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
    from helpers.localcloud.services import Record

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


# ---- processes left behind by a gateway that was killed ----

def strays(records: dict[str, Record] | None = None) -> dict[str, list[int]]:
    """Airflow processes of local MWAA environments that no running gateway owns, by environment: left running after
    the gateway was killed (kill -9, out of memory). Found by their process records and by their working folder."""
    records = _read() if records is None else records
    gateway = records.get("aws")
    owned: set[int] = set()
    if gateway and processes.is_same_process(gateway.pid, gateway.create_time):
        import psutil

        root = psutil.Process(gateway.pid)
        owned = {root.pid, *(p.pid for p in processes.descendants(root))}
    found: dict[str, set[int]] = {}
    for record in processes.records(_dir()).values():
        for pid, _ in processes.alive(record).values():
            if pid not in owned:
                found.setdefault(record["owner"].split(":", 1)[-1], set()).add(pid)
    mwaa_root = _dir() / "mwaa"
    for proc in processes.processes_under(mwaa_root):
        if proc.pid not in owned:
            try:
                environment = Path(proc.cwd()).relative_to(mwaa_root.resolve()).parts[0]
            except (ValueError, IndexError, OSError):
                environment = "?"
            found.setdefault(environment, set()).add(proc.pid)
    return {env: sorted(pids) for env, pids in sorted(found.items())}


def _stop_strays() -> dict[str, int]:
    """Stop every stray (see `strays`; call it when no gateway runs) and forget the process records.
    Returns how many were stopped, by environment."""
    found = strays({})
    recorded = processes.records(_dir())
    pairs = [p for record in recorded.values() for p in record["processes"].values()]
    for proc in processes.processes_under(_dir() / "mwaa"):
        try:
            pairs.append((proc.pid, processes.started(proc)))
        except processes.psutil.NoSuchProcess:
            pass
    processes.stop_all(pairs)  # all at once: one grace period, however many environments
    for path in recorded:
        path.unlink(missing_ok=True)
    return {environment: len(pids) for environment, pids in found.items()}


def _describe_strays(found: dict[str, list[int]] | dict[str, int]) -> str:
    return "; ".join(f"{len(v) if isinstance(v, list) else v} Airflow processes of environment {env}"
                     for env, v in found.items())


# ---- lifecycle ----

def _preflight(names: list[str], records: dict[str, Record]) -> dict[str, int | None]:
    """Everything that can be checked before starting anything: settings (workbook.toml, region) and fixed ports.
    A fixed port still held by the service's own earlier process is chosen again once that process is stopped."""
    from helpers.config import settings

    settings()
    ports: dict[str, int | None] = {}
    for name in names:
        service, record = _services()[name], records.get(name)
        held = record and service.port_env and os.environ.get(service.port_env) == str(record.port)
        ports[name] = None if held else service.choose_port()
    return ports


def _wait_for_slow(name: str, service: ProcessService, record: Record, quiet: bool) -> str:
    """A service process that is ours but does not answer is busy (or suspended): wait for it rather than kill it and
    every environment it runs."""
    if not quiet:
        print(f"Local {name} service (pid {record.pid}) is slow to answer; waiting up to {service.start_timeout:.0f} s "
              "for it (it is not restarted: that would stop its environments).")
    deadline = time.monotonic() + service.start_timeout
    while time.monotonic() < deadline:
        state = service.state(record)
        if state != "slow":
            return state
        time.sleep(1)
    raise WorkbookError(f"Local {name} service (pid {record.pid}) has not answered for {service.start_timeout:.0f} s: "
                        f"it is busy or hung; wait and retry, or {FIX}.")


def up(quiet: bool = False, on_demand: tuple[str, ...] | list[str] = ()) -> dict[str, Record]:
    """Start every service that is not running and healthy, and the on-demand ones named in `on_demand` (or started
    earlier). Starting twice is a no-op.

    Services start in `SERVICES` order and may use earlier ones (Snowflake reads S3 from the AWS service): once one
    is started, the later ones that use earlier ones are restarted too, so none keeps the address of a server that
    is gone. A service that runs but is slow to answer is waited for, not restarted. Settings and fixed ports are
    checked before anything starts; if a start fails, what this call started is stopped again."""
    _spawn_env_ready()
    services = _services()
    unknown = [name for name in on_demand if name not in services or not services[name].on_demand]
    if unknown:
        choices = ", ".join(name for name, service in services.items() if service.on_demand)
        raise WorkbookError(f"No on-demand local cloud service {', '.join(unknown)}: choose from {choices}.")
    with _locked():
        records = _read()
        to_start: list[str] = []
        for name, service in services.items():
            record = records.get(name)
            if record is None:
                if not service.on_demand or name in on_demand:
                    to_start.append(name)
                continue
            if to_start and service.uses_earlier:
                to_start.append(name)
                continue
            state = service.state(record)
            if state == "slow":
                state = _wait_for_slow(name, service, record, quiet)
            if state != "running":
                if not quiet:
                    print(f"Local {name} service from an earlier run is {state} (pid {record.pid}); starting a new one.")
                to_start.append(name)
        if not to_start:
            return records
        ports = _preflight(to_start, records)
        if "aws" in to_start:
            if "aws" in records:
                services["aws"].stop(records.pop("aws"))
                _write(records)
            stopped = _stop_strays()
            if stopped and not quiet:
                print(f"Stopped what a killed local cloud left running: {_describe_strays(stopped)}.")
        started: list[str] = []
        try:
            for name in to_start:
                if name in records:
                    services[name].stop(records.pop(name))
                    _write(records)
                records[name] = services[name].start(_dir(), ports[name], records)
                started.append(name)
                _write(records)
        except BaseException:
            for name in reversed(started):
                services[name].stop(records.pop(name))
            _write(records)
            if "aws" in started:
                _stop_strays()
            raise
        return records


class Stopped(list):
    """What `down` stopped (service names, then strays), with `found`: one line per problem it found on the way."""

    found: list[str]


def down() -> Stopped:
    """Stop every recorded service by PID, and every Airflow process a killed gateway left, and forget the state.
    Returns what was stopped; `.found` says what was wrong (a service that was gone, strays)."""
    services = _services()
    with _locked():
        records = _read()
        result, found_lines = Stopped(), []
        for name, record in records.items():
            service = services.get(name)
            if service is None:
                continue
            state = service.state(record)
            if state == "gone":
                found_lines.append(f"The local {name} service (pid {record.pid}) was already gone: killed or crashed.")
            stopped = service.stop(record)  # also when gone: a service may clean what its killed process left
            if state != "gone" and stopped:
                result.append(name)
        found = strays({})
        if found:
            found_lines.append(f"Left running by a killed local cloud: {_describe_strays(found)}.")
            stopped = _stop_strays()
            result.append(f"{sum(stopped.values())} stray Airflow processes ({', '.join(stopped)})")
        else:
            for path in processes.records(_dir()):
                path.unlink(missing_ok=True)
        _state_file().unlink(missing_ok=True)
        result.found = found_lines
        return result


def running() -> dict[str, Record]:
    """Healthy services only (no side effects)."""
    services = _services()
    return {name: rec for name, rec in _read().items() if name in services and services[name].healthy(rec)}


ADVICE = {
    "gone": "its process is gone (killed or crashed): " + FIX + ".",
    "not ours": "another program answers on its port: " + FIX + ".",
    "slow": "its process runs but does not answer (busy, or suspended): wait and retry; if it stays so, " + FIX + ".",
}


def status() -> list[dict]:
    """One row per service (state running, stopped, gone, not ours or slow), then one per environment with stray
    Airflow processes (state stray). Rows that need action carry `advice`: one line saying what to do."""
    rows = []
    records = _read()
    for name, service in _services().items():
        rec = records.get(name)
        state = service.state(rec) if rec else "stopped"
        rows.append({"service": name, "state": state, "url": rec.url if rec and state == "running" else "",
                     "pid": rec.pid if rec else None, "emulated_by": service.emulated_by,
                     "start_seconds": rec.start_seconds if rec else None,
                     "advice": f"Local {name} service (pid {rec.pid}): {ADVICE[state]}" if state in ADVICE else ""})
    for environment, pids in strays(records).items():
        rows.append({"service": f"airflow:{environment}", "state": "stray", "url": "", "pid": pids[0],
                     "emulated_by": "local MWAA environment", "start_seconds": None,
                     "advice": f"{len(pids)} Airflow processes of environment {environment} (pids {', '.join(map(str, pids))}) "
                               "were left running by a killed local cloud: stop them with `python -m helpers.localcloud down`."})
    return rows


def problems(rows: list[dict] | None = None) -> list[str]:
    """What `status` found wrong, one line each (empty when the local cloud is fully up or fully down)."""
    rows = status() if rows is None else rows
    lines = [row["advice"] for row in rows if row["advice"]]
    services = _services()
    states = {row["state"] for row in rows if not row["service"].startswith("airflow:")
              and not (row["state"] == "stopped" and services[row["service"]].on_demand)}
    if not lines and states == {"running", "stopped"}:
        missing = [row["service"] for row in rows if row["state"] == "stopped"]
        lines.append(f"The local cloud is half up ({', '.join(missing)} stopped): start the rest with "
                     "`python -m helpers.localcloud up`.")
    return lines


def require(name: str = "aws") -> Record:
    """The running record of a service, or a one-line error saying how to start it. A service that runs but is slow to
    answer (a busy machine) is waited for, as `up` does, rather than reported as not running."""
    service, rec = _services()[name], _read().get(name)
    state = service.state(rec) if rec else "stopped"
    if state == "slow":
        state = _wait_for_slow(name, service, rec, quiet=True)
    if state != "running" and service.on_demand:
        raise WorkbookError(f"The local {name} service is not running: start it with `python -m helpers.localcloud up "
                            f"{name}` (or `helpers.localcloud.ensure_up(\"{name}\")` in a notebook).")
    if state != "running":
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
        env.update(_services()[name].exports(rec))
    return env


def api_calls(reset: bool = False) -> dict[str, int]:
    """Calls the local cloud served since the last reset, as {"service:Action": count} (JSON-protocol services)."""
    import urllib.request

    request = urllib.request.Request(f"{endpoint()}/_workbook/calls", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


def ensure_up(*on_demand: str) -> None:
    """Start the local cloud if needed, with the on-demand services named (e.g. "postgres"), and say, in one line per
    service, what is emulated."""
    records = up(on_demand=on_demand)
    for name, rec in records.items():
        print(f"Local cloud {name}: {_services()[name].emulated_by} (emulated) at {rec.url}, up in {rec.start_seconds:.1f} s")
