"""What happened to a DAG run's pods, seen from the cluster: their phases sampled while the run goes (the operator
deletes each pod when it ends, so afterwards only its events are left), and the events Kubernetes recorded.

    with PodWatch(api, "mwaa", "dag_id=eks_least_privilege") as watch:
        ...  # trigger the run and wait for it
    pod_lifecycle.table(watch.samples)  # one row per pod: task, phases in order, deleted or not
"""

from __future__ import annotations

import threading
import time

import pandas as pd

GONE = "deleted"


class PodWatch:
    """Samples the pods matching a label selector every `interval` seconds in a background thread. Each sample is
    (seconds since start, pod name, task_id label, phase); a pod seen before and missing now is sampled as `deleted`."""

    def __init__(self, api, namespace: str, label_selector: str, interval: float = 0.5):
        self.api, self.namespace, self.selector, self.interval = api, namespace, label_selector, interval
        self.samples: list[tuple[float, str, str, str]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-watch", daemon=True)

    def __enter__(self) -> PodWatch:
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()  # once more: a pod deleted after the last tick

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        from kubernetes import client as k8s
        from kubernetes.client.exceptions import ApiException

        try:
            pods = k8s.CoreV1Api(self.api).list_namespaced_pod(self.namespace, label_selector=self.selector).items
        except (ApiException, OSError) as exc:  # keep watching: one failed list is one missing sample
            self.errors.append(str(getattr(exc, "reason", exc)))
            return
        now = time.monotonic() - self._start
        seen = {}
        for pod in pods:
            seen[pod.metadata.name] = ((pod.metadata.labels or {}).get("task_id", "?"), pod.status.phase or "Pending")
        known = {name: task for _, name, task, _ in self.samples}
        for name, (task, phase) in seen.items():
            self.samples.append((now, name, task, phase))
        for name, task in known.items():
            if name not in seen and self._last(name) != GONE:
                self.samples.append((now, name, task, GONE))

    def _last(self, name: str) -> str | None:
        return next((phase for _, pod, _, phase in reversed(self.samples) if pod == name), None)


def table(samples: list[tuple[float, str, str, str]]) -> pd.DataFrame:
    """One row per pod (ordered by first sight): its task, the phases it went through in order (repeats collapsed),
    and the seconds from first sight to Running and to its end (Succeeded/Failed)."""
    rows = []
    frame = pd.DataFrame(samples, columns=["t", "pod", "task", "phase"])
    for pod, seen in frame.groupby("pod", sort=False):
        phases = [p for i, p in enumerate(seen.phase) if i == 0 or p != seen.phase.iloc[i - 1]]
        first = seen.t.min()

        def at(wanted: set[str], seen=seen, first=first) -> float | None:
            hit = seen[seen.phase.isin(wanted)]
            return round(hit.t.min() - first, 1) if not hit.empty else None

        rows.append({"task": seen.task.iloc[0], "pod": pod, "phases": " → ".join(phases),
                     "to_running_s": at({"Running"}), "to_end_s": at({"Succeeded", "Failed"})})
    return pd.DataFrame(rows, columns=["task", "pod", "phases", "to_running_s", "to_end_s"])


def events(api, namespace: str, pod_names: list[str]) -> pd.DataFrame:
    """The events Kubernetes recorded for these pods (they outlive the pods): pod, reason, message, in time order."""
    from kubernetes import client as k8s

    core, rows = k8s.CoreV1Api(api), []
    for name in pod_names:
        for event in core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items:
            when = event.last_timestamp or event.event_time or event.first_timestamp or event.metadata.creation_timestamp
            rows.append({"pod": name, "when": when, "reason": event.reason, "message": event.message})
    frame = pd.DataFrame(rows, columns=["pod", "when", "reason", "message"])
    return frame.sort_values(["pod", "when"], kind="stable").reset_index(drop=True)
