"""Processes and ports: free ports on loopback, detached servers, health waits, stop by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from helpers.errors import WorkbookError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_free(port: int, what: str) -> None:
    if port_open(port):
        raise WorkbookError(
            f"Port {port} for {what} is already taken by another program: free it, or unset the fixed port to use a free one."
        )


def spawn(cmd: list[str], log_file: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> psutil.Process:
    """Start a server detached from this process group, so a notebook kernel restart does not kill it."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return psutil.Process(proc.pid)


def is_same_process(pid: int, create_time: float) -> bool:
    """True if `pid` is still the process we started (PIDs get reused)."""
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - create_time) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def stop(pid: int, create_time: float, timeout: float = 10.0) -> bool:
    """Stop a process we started, and its children: SIGTERM, then SIGKILL after `timeout`. False if it was gone."""
    return stop_all([(pid, create_time)], timeout) == 1


def stop_all(processes: list[tuple[int, float]], timeout: float = 10.0) -> int:
    """Stop several processes we started, and their children, all at once. Returns how many were still running."""
    family = []
    for pid, create_time in processes:
        if is_same_process(pid, create_time):
            proc = psutil.Process(pid)
            family += [proc, *proc.children(recursive=True)]
    running = sum(1 for pid, created in processes if is_same_process(pid, created))
    for p in family:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=timeout)
    return running


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2, progress: bool = False,
               failed: Callable[[], str | None] | None = None) -> float:
    """Poll `check` until true; return seconds waited. `failed` may return a reason to give up early."""
    start = time.monotonic()
    bar = None
    if progress:
        from helpers.progress import progress

        bar = progress(what, total=int(timeout), unit="s")
    try:
        while True:
            if check():
                return time.monotonic() - start
            reason = failed() if failed else None
            if reason:
                raise WorkbookError(f"{what} failed: {reason}")
            elapsed = time.monotonic() - start
            if elapsed > timeout:
                raise WorkbookError(f"Timed out after {timeout:.0f} s waiting for {what}.")
            if bar is not None:
                bar.n = int(elapsed)
                bar.refresh()
            time.sleep(interval)
    finally:
        if bar is not None:
            bar.close()


def tree_memory_mb(*pids: int) -> float:
    """Memory of processes and all their children (each process once), in MB: PSS (shared pages counted once,
    in share) where readable, else RSS. Airflow forks its workers, so summing RSS would count shared pages often."""
    family: dict[int, psutil.Process] = {}
    for pid in pids or (os.getpid(),):
        try:
            proc = psutil.Process(pid)
            family.update({p.pid: p for p in (proc, *proc.children(recursive=True))})
        except psutil.NoSuchProcess:
            pass
    total = 0
    for p in family.values():
        try:
            total += p.memory_full_info().pss
        except psutil.AccessDenied:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, AttributeError):
            pass
    return total / 1e6
