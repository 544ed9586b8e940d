"""The local cloud's services: a small registry, each service with start, health and stop.

A service runs as its own process on 127.0.0.1, on a free port unless one is fixed by an
environment variable, and is stopped by PID (a short grace after SIGTERM, then SIGKILL). `state` tells a
process that is gone or not ours (restart it) from one that is only slow to answer (wait for it). Scenario issues add services (fakesnow,
PostgreSQL) by subclassing `ProcessService` in a module of their own and adding an instance to the package's `SERVICES`
(`helpers.localcloud._services`); a service may stop its own way (PostgreSQL: a fast shutdown first).
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from helpers import procs
from helpers.errors import WorkbookError

VERIFIED_FOR_SECONDS = 30.0
_VERIFIED: dict[tuple, float] = {}


def probe_health(url: str, token: str, context=None, timeout: float = 5.0) -> bool | None:
    """True if `url` answers with `token`, False if another server answers there, None if nothing answers in time."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return json.load(resp).get("token") == token
    except urllib.error.HTTPError:
        return False
    except urllib.error.URLError as exc:
        return False if isinstance(exc.reason, ssl.SSLError) else None
    except ValueError:
        return False
    except OSError:
        return None


@dataclass
class Record:
    """What the state file remembers about a running service."""

    name: str
    pid: int
    create_time: float
    port: int
    token: str
    start_seconds: float
    log: str
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{procs.LOOPBACK}:{self.port}"


class ProcessService:
    name: str = ""
    port_env: str = ""  # environment variable that fixes the port; unset means a free port
    emulated_by: str = ""  # shown to the learner: what stands in for the real service
    scheme: str = "http"
    start_timeout: float = 60.0
    # Started only when asked for by name (`up(on_demand=...)`), not by every `up`: most notebooks do not need it.
    on_demand: bool = False
    # Uses the services before it in `SERVICES` (their URLs), so restarts when one of them does.
    uses_earlier: bool = True

    def command(self, port: int, token: str, state_dir: Path, others: dict[str, Record]) -> list[str]:
        """The server's command line. `others`: records of the services already up (Snowflake needs the AWS one's URL)."""
        raise NotImplementedError

    def probe(self, record: Record) -> bool | None:
        """True if the service at the record's port answers with the record's token, False if something else answers
        there, None if nothing answers in time."""
        raise NotImplementedError

    def answers_as_ours(self, record: Record) -> bool:
        return bool(self.probe(record))

    def exports(self, record: Record) -> dict[str, str]:
        return {}

    def choose_port(self) -> int:
        fixed = os.environ.get(self.port_env) if self.port_env else None
        if not fixed:
            return procs.free_port()
        if not fixed.isdigit() or not 0 < int(fixed) < 65536:
            raise WorkbookError(f"{self.port_env}={fixed!r} is not a port number: set a number from 1 to 65535, or unset it.")
        procs.require_free(int(fixed), f"the local cloud's {self.name} service ({self.port_env})")
        return int(fixed)

    def start(self, state_dir: Path, port: int | None = None, others: dict[str, Record] | None = None,
              token: str | None = None) -> Record:
        """Start the server and wait until it answers. `token`: what it answers to, if the service keeps one across
        starts (PostgreSQL's password lives in its data folder); else a new one."""
        port = port or self.choose_port()
        token = token or secrets.token_hex(8)
        log = state_dir / "logs" / f"{self.name}.log"
        started = time.monotonic()
        proc = procs.spawn(self.command(port, token, state_dir, others or {}), log, env=self.environment(),
                           user=self.run_as())
        record = Record(self.name, proc.pid, procs.started(proc), port, token, 0.0, str(log), self.scheme)

        def exited() -> str | None:
            if proc.is_running() and proc.status() != procs.psutil.STATUS_ZOMBIE:
                return None
            tail = Path(log).read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            return f"the process exited ({tail[0][:200]}); see {log}"

        try:
            procs.wait_until(lambda: self.answers_as_ours(record), self.start_timeout, f"local {self.name} service", failed=exited)
        except WorkbookError:
            procs.stop(record.pid, record.create_time)
            raise
        record.start_seconds = round(time.monotonic() - started, 2)
        _VERIFIED[(record.pid, record.port, record.token)] = time.monotonic()  # it just answered: no second probe
        return record

    def run_as(self) -> str | None:
        """The user the server runs as, if not this process's own."""
        return None

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("AWS_PROFILE", None)
        return env

    def state(self, record: Record) -> str:
        """"running"; "gone" (the process died, or its PID is another program's now); "not ours" (our process runs but
        another program answers on its port); "slow" (our process runs but does not answer yet: busy, or stopped).
        A good answer is trusted for a while: every boto3 client asks, and a busy server (Airflow starting on 2 cores)
        must not look dead because one health request was slow."""
        if not procs.is_same_process(record.pid, record.create_time):
            return "gone"
        key = (record.pid, record.port, record.token)
        if time.monotonic() - _VERIFIED.get(key, float("-inf")) < VERIFIED_FOR_SECONDS:
            return "running"
        answer = self.probe(record)
        if answer is None:
            return "slow"
        if not answer:
            return "not ours"
        _VERIFIED[key] = time.monotonic()
        return "running"

    def healthy(self, record: Record) -> bool:
        return self.state(record) == "running"

    def stop(self, record: Record) -> bool:
        return procs.stop(record.pid, record.create_time)


class AwsService(ProcessService):
    """AWS APIs: the moto server plus the workbook's emulators, behind one gateway."""

    name = "aws"
    port_env = "WORKBOOK_AWS_PORT"
    start_timeout = 90.0

    @property
    def emulated_by(self) -> str:
        from importlib.metadata import version

        return f"moto {version('moto')} + workbook MWAA emulator"

    def command(self, port: int, token: str, state_dir: Path, others: dict[str, Record]) -> list[str]:
        return [sys.executable, "-m", "helpers.localcloud.gateway", "--port", str(port), "--token", token,
                "--state-dir", str(state_dir)]

    def probe(self, record: Record) -> bool | None:
        return probe_health(f"{record.url}/_workbook/health", record.token)

    def exports(self, record: Record) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": record.url}

