"""Processes and ports for the client side: what `helpers.localcloud.processes` does (free ports on loopback, detached
servers, stop by PID), plus one-line errors, health waits with progress, and memory of a process tree."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import psutil

from helpers.errors import WorkbookError
from helpers.localcloud.processes import LOOPBACK, free_port, is_same_process, port_open, spawn, started, stop_all

__all__ = ["LOOPBACK", "free_port", "is_same_process", "port_open", "require_free", "spawn", "started", "stop", "stop_all",
           "tree_memory_mb", "wait_until"]


def require_free(port: int, what: str) -> None:
    if port_open(port):
        raise WorkbookError(
            f"Port {port} for {what} is already taken by another program: free it, or unset the fixed port to use a free one."
        )


def stop(pid: int, create_time: float, timeout: float | None = None) -> bool:
    """Stop a process we started, and its process group and children: SIGTERM, then SIGKILL after a short grace
    (`timeout` seconds if given). False if it was gone."""
    return stop_all([(pid, create_time)], *(() if timeout is None else (timeout,))) == 1


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
