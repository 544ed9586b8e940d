"""The local cloud's PostgreSQL (issue 15): started on demand, a real server on 127.0.0.1 reached with psycopg, stopped
by PID with a fast shutdown, and found again (or cleaned up) after its postmaster is killed."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psutil
import psycopg
import pytest

from helpers import localcloud, procs
from helpers.errors import WorkbookError
from helpers.localcloud import postgres, processes
from helpers.localcloud.__main__ import main as cli
from helpers.localcloud.services import Record


def _record(port: int, token: str) -> Record:
    return Record("postgres", 0, 0.0, port, token, 0.0, "postgres.log", "postgresql")


def _row(name: str = "postgres") -> dict:
    return next(row for row in localcloud.status() if row["service"] == name)


def _server_processes() -> list[psutil.Process]:
    return processes.processes_under(postgres.data_dir(), marker="postgres")


def _kill(record: Record) -> None:
    os.kill(record.pid, signal.SIGKILL)
    procs.wait_until(lambda: not procs.is_same_process(record.pid, record.create_time), 10, "the killed postmaster")


# ---- pure ----

def test_the_uri_quotes_the_password_and_what_is_shown_masks_it():
    record = _record(5439, "p@ss/w:rd")
    uri = postgres.connection_uri(record)
    parts = urlsplit(uri)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == ("postgresql", "127.0.0.1", 5439, "/warehouse")
    assert (parts.username, unquote(parts.password)) == ("workbook", "p@ss/w:rd")
    assert postgres.airflow_connection(record) == {"AIRFLOW_CONN_WAREHOUSE": uri}
    assert "p@ss" not in postgres.shown_uri(record) and "ss%2F" not in postgres.shown_uri(record)
    assert record.url == "postgresql://127.0.0.1:5439"


def test_the_probe_tells_nothing_there_from_another_program():
    service = postgres.PostgresService()
    assert service.probe(_record(procs.free_port(), "x")) is None  # nothing listens: not started yet, or gone
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(10)

        def answer_like_a_web_server():
            with server.accept()[0] as conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=answer_like_a_web_server, daemon=True)
        thread.start()
        assert service.probe(_record(server.getsockname()[1], "x")) is False
        thread.join(10)


# ---- the service in a local cloud (one for the module; tests run in order) ----

def test_every_up_leaves_it_stopped_and_require_says_how_to_start_it(module_cloud):
    assert "postgres" not in module_cloud.records
    row = _row()
    assert (row["state"], row["advice"]) == ("stopped", "")
    assert "PostgreSQL 18" in row["emulated_by"]
    assert localcloud.problems() == []  # not "half up": it is started on demand
    with pytest.raises(WorkbookError, match=r"`python -m helpers\.localcloud up postgres`") as err:
        localcloud.require("postgres")
    assert "\n" not in str(err.value)
    with pytest.raises(WorkbookError, match="No on-demand local cloud service snowflake: choose from postgres"):
        localcloud.up(quiet=True, on_demand=("snowflake",))
    assert cli(["down", "postgres"]) == 2  # only `up` takes names; nothing was stopped
    assert "aws" in localcloud.running()


def test_a_taken_fixed_port_is_one_line_and_starts_nothing(module_cloud, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        monkeypatch.setenv("WORKBOOK_POSTGRES_PORT", str(sock.getsockname()[1]))
        with pytest.raises(WorkbookError, match=r"\(WORKBOOK_POSTGRES_PORT\) is already taken by another program") as err:
            localcloud.up(quiet=True, on_demand=("postgres",))
    assert "\n" not in str(err.value)
    assert "postgres" not in localcloud.running()
    assert localcloud.running()["aws"].pid == module_cloud.records["aws"].pid


def test_starts_on_demand_on_loopback_and_a_query_answers(module_cloud, monkeypatch, capsys):
    port = procs.free_port()
    monkeypatch.setenv("WORKBOOK_POSTGRES_PORT", str(port))
    localcloud.ensure_up("postgres")
    record = localcloud.require("postgres")
    assert (record.port, record.url) == (port, f"postgresql://127.0.0.1:{port}")
    server = psutil.Process(record.pid)
    assert {c.laddr.ip for c in server.net_connections("tcp") if c.status == psutil.CONN_LISTEN} == {"127.0.0.1"}
    if os.geteuid() == 0:
        assert server.uids().real != 0  # PostgreSQL refuses root

    with psycopg.connect(postgres.connection_uri(record)) as conn:
        assert conn.execute("SELECT current_database(), current_user").fetchone() == ("warehouse", "workbook")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.connection_uri(_record(port, "wrong"))).close()

    printed = capsys.readouterr().out
    assert "Local cloud postgres: PostgreSQL 18" in printed and f"at postgresql://127.0.0.1:{port}," in printed
    row = _row()
    assert (row["state"], row["url"], row["pid"]) == ("running", record.url, record.pid)
    assert record.token not in printed + str(localcloud.status()) + Path(record.log).read_text()
    assert localcloud.exports()["AIRFLOW_CONN_WAREHOUSE"] == postgres.connection_uri(record)
    again = localcloud.up(quiet=True)["postgres"]  # a plain `up` keeps what was started on demand
    assert (again.pid, again.port) == (record.pid, record.port)


def test_stop_is_a_fast_shutdown_that_frees_the_port(module_cloud):
    record = localcloud.require("postgres")
    client = psycopg.connect(postgres.connection_uri(record))  # a smart shutdown (SIGTERM) would wait for it
    started = time.monotonic()
    try:
        assert localcloud.SERVICES["postgres"].stop(record) is True
        took = time.monotonic() - started
    finally:
        client.close()
    assert took < 5, f"stop took {took:.1f} s"
    assert not procs.is_same_process(record.pid, record.create_time)
    assert not procs.port_open(record.port)
    assert _server_processes() == []
    assert "received fast shutdown request" in Path(record.log).read_text()
    assert _row()["state"] == "gone"  # stopped behind the local cloud's back: its record remains
    localcloud.up(quiet=True)  # and a plain `up` starts it again


def test_a_killed_postmaster_is_found_and_replaced_by_up_with_its_data(module_cloud, capsys):
    record = localcloud.require("postgres")
    with psycopg.connect(postgres.connection_uri(record)) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS survives (id int)")
        conn.execute("INSERT INTO survives VALUES (1)")
    _kill(record)
    row = _row()
    assert row["state"] == "gone" and "its process is gone" in row["advice"]

    new = localcloud.up()["postgres"]
    assert f"Local postgres service from an earlier run is gone (pid {record.pid})" in capsys.readouterr().out
    assert new.pid != record.pid and new.token == record.token  # the same data folder, initdb not run again
    with psycopg.connect(postgres.connection_uri(new)) as conn:
        assert conn.execute("SELECT count(*) FROM survives").fetchone()[0] >= 1
    family = {new.pid, *(p.pid for p in psutil.Process(new.pid).children(recursive=True))}
    assert {p.pid for p in _server_processes()} <= family  # nothing of the killed server is left


def test_down_after_a_killed_postmaster_stops_what_it_left(module_cloud):
    record = localcloud.require("postgres")
    backend = psutil.Process(record.pid).children()[0]
    backend.suspend()  # it cannot notice its postmaster died: it stays, holding the shared memory
    procs.wait_until(lambda: backend.status() == psutil.STATUS_STOPPED, 5, "the backend to stop")
    _kill(record)
    assert backend.is_running() and backend.status() == psutil.STATUS_STOPPED

    stopped = localcloud.down()
    assert f"The local postgres service (pid {record.pid}) was already gone: killed or crashed." in stopped.found
    assert "postgres" not in stopped
    assert _server_processes() == []
    assert not procs.port_open(record.port)
    assert _row()["state"] == "stopped"
