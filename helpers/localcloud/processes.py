"""Processes of the local cloud, for both sides: the client (`helpers.localcloud`) and the servers it starts (the gateway,
its emulators, Airflow runtimes). Server-safe: imports nothing of the workbook's client side.

- `spawn` starts a server in its own session (a notebook kernel restart must not kill it) and keeps its Popen, so
  `reap_finished` can collect it when it exits instead of leaving a zombie. The session keeps the caller's priority
  (`keep_priority`).
- `stop_all` stops processes by PID and start time (PIDs get reused), per process group: SIGTERM, a short grace,
  then SIGKILL, so one component ignoring SIGTERM does not hold up the rest.
- Process records: one JSON file per owner (e.g. one local MWAA environment) under `<local cloud state>/processes/`,
  naming each process by PID and start time, so a crashed gateway's Airflow processes can still be found and stopped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

LOOPBACK = "127.0.0.1"
_LINUX = sys.platform.startswith("linux")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if _LINUX else 100
GRACE_SECONDS = 3.0

_SPAWNED: dict[int, subprocess.Popen] = {}
_SPAWNED_LOCK = threading.Lock()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def as_user(user: str | None) -> dict:
    """`subprocess` arguments that run a command as `user` (its group, none of ours); none for None."""
    if user is None:
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def spawn(cmd: list[str], log_file: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
          user: str | None = None) -> psutil.Process:
    """Start a server detached from this process group (its own session, so its own process group), as `user` if
    given (a server that refuses to run as root)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    reap_finished()
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                start_new_session=True, **as_user(user))
    keep_priority(proc.pid)
    with _SPAWNED_LOCK:
        _SPAWNED[proc.pid] = proc
    return psutil.Process(proc.pid)


def keep_priority(pid: int) -> None:
    """Give the session `pid` leads the calling thread's nice value.

    Linux's autogroup scheduling (on by default, /proc/sys/kernel/sched_autogroup_enabled) puts every session in a
    group of its own and shares the CPU between groups by the group's nice value; a process's own nice value counts
    only against processes of its own session. A server in a new session would otherwise compete at the default
    priority whatever its parent's: `make test` lowers the unit tests' priority below the notebook lanes', and their
    Airflow environments, each component a session of its own, took the lanes' share all the same (the lanes' notebooks
    ran twice as long as alone). No-op at the default priority and where there is no autogroup."""
    nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) if _LINUX else 0
    if nice <= 0:
        return
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except OSError:  # no autogroup support, or the process already ended
        pass


def reap_finished() -> list[int]:
    """Collect spawned processes that have exited (else they stay as zombies until this process ends)."""
    with _SPAWNED_LOCK:
        done = [pid for pid, proc in _SPAWNED.items() if proc.poll() is not None]
        for pid in done:
            del _SPAWNED[pid]
    return done


def start_reaper(interval: float = 1.0) -> threading.Thread:
    """A daemon thread that keeps collecting exited spawned processes (long-lived servers that spawn others)."""
    def loop():
        while True:
            try:
                reap_finished()
            except Exception:  # noqa: BLE001  (a reaper that dies would leave every later child a zombie)
                pass
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="reap-children", daemon=True)
    thread.start()
    return thread


def started(proc: psutil.Process | int) -> float:
    """When a process started: the stamp that, with its PID, names it (PIDs get reused) in records and on stop.

    On Linux, seconds since boot from /proc/PID/stat. psutil's create_time() adds the boot time, which the kernel
    derives from the wall clock, as a whole number of seconds: a clock that is stepped or slewed (NTP on a virtual
    machine) moves it by a second, and every running process would then look like another one, so stopped or
    restarted as gone. Elsewhere, psutil's create_time()."""
    pid = proc if isinstance(proc, int) else proc.pid
    if not _LINUX:
        return psutil.Process(pid).create_time()
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except (FileNotFoundError, ProcessLookupError):
        raise psutil.NoSuchProcess(pid) from None
    # The command name (2nd field) may hold spaces and parentheses: count fields after its closing parenthesis.
    return int(data[data.rindex(b")") + 2:].split()[19]) / _CLOCK_TICKS


def is_same_process(pid: int, create_time: float) -> bool:
    """True if `pid` is still the process we started (PIDs get reused): `create_time` is its `started` stamp."""
    try:
        proc = psutil.Process(pid)
        return abs(started(pid) - create_time) < 0.5 and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _signal_group(proc: psutil.Process, sig: int) -> None:
    """Signal the process group `proc` leads (servers from `spawn` lead their own); else just the process."""
    try:
        if os.getpgid(proc.pid) == proc.pid and proc.is_running():
            os.killpg(proc.pid, sig)
            return
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.send_signal(sig)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass


def stop_all(processes: list[tuple[int, float]], grace: float = GRACE_SECONDS) -> int:
    """Stop processes we started, their process groups and their children, all at once: SIGTERM, then SIGKILL to
    whatever still runs after `grace` seconds. Returns how many of `processes` were still running."""
    leaders, family = [], {}
    for pid, create_time in processes:
        if is_same_process(pid, create_time):
            proc = psutil.Process(pid)
            leaders.append(proc)
            for member in (proc, *descendants(proc)):
                family[member.pid] = member
    for proc in leaders:
        _signal_group(proc, signal.SIGTERM)
    for proc in family.values():
        try:
            proc.send_signal(signal.SIGTERM)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    alive = _wait_gone(list(family.values()), grace)
    if alive:
        for proc in leaders:
            _signal_group(proc, signal.SIGKILL)
        for proc in alive:
            try:
                proc.kill()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        _wait_gone(alive, 5)
    reap_finished()
    return len(leaders)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until each process has exited; returns those still running. An exited process that nobody has collected
    yet (a zombie: an orphan waits for init to do it, which may take long) counts as exited."""
    deadline = time.monotonic() + timeout
    while True:
        psutil.wait_procs(procs, timeout=0)  # collects our own children
        alive = [p for p in procs if _running(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


# ---- process records on disk ----

def records_dir(localcloud_dir: Path) -> Path:
    return localcloud_dir / "processes"


def write_record(path: Path, owner: str, processes: dict[str, tuple[int, float]], **details) -> None:
    """Name `owner`'s processes on disk (replacing the previous record), atomically: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"owner": owner, **details, "parent": os.getpid(),
            "processes": {name: {"pid": pid, "create_time": created} for name, (pid, created) in processes.items()}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=2))
    tmp.replace(path)


def read_record(path: Path) -> dict:
    try:
        body = json.loads(path.read_text())
        body["processes"] = {n: (int(p["pid"]), float(p["create_time"])) for n, p in body.get("processes", {}).items()}
        return body
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {"owner": path.stem, "processes": {}}


def records(localcloud_dir: Path) -> dict[Path, dict]:
    folder = records_dir(localcloud_dir)
    return {path: read_record(path) for path in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def alive(record: dict) -> dict[str, tuple[int, float]]:
    """The recorded processes still running (same PID and start time)."""
    return {name: p for name, p in record["processes"].items() if is_same_process(*p)}


def stop_record(path: Path, grace: float = GRACE_SECONDS) -> int:
    """Stop every process a record names and forget it. Returns how many were still running."""
    stopped = stop_all(list(read_record(path)["processes"].values()), grace) if path.exists() else 0
    path.unlink(missing_ok=True)
    return stopped


def processes_under(folder: Path, marker: str = "airflow") -> list[psutil.Process]:
    """Processes whose command mentions `marker` and whose working folder is under `folder`: found even when no record
    names them (e.g. a record lost with a wiped folder)."""
    root, found = str(folder.resolve()), []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            cmd, cwd = " ".join(proc.info["cmdline"] or []), proc.info["cwd"] or ""
            # A process may exit between the listing and its status (a killed postmaster's backends do).
            if marker in cmd and (cwd == root or cwd.startswith(root + os.sep)) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def stop_found(found: list[psutil.Process], grace: float = GRACE_SECONDS) -> int:
    pairs = []
    for proc in found:
        try:
            pairs.append((proc.pid, started(proc)))
        except psutil.NoSuchProcess:
            pass
    return stop_all(pairs, grace)
