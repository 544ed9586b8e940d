"""Pods as local processes: the kubelet of the local EKS.

Each pod gets a folder `<state>/eks/pods/<namespace>_<name>_<uid>/`; each container is one process started from the
image table (`images`), in its own session, with a clean environment: nothing of the gateway's (so nothing of Airflow's
credentials), only PATH (the image's bin folder, then /usr/bin:/bin), HOME (the pod folder), the container's `env`,
AWS_EC2_METADATA_DISABLED, AWS_REGION/AWS_DEFAULT_REGION and AWS_ENDPOINT_URL (the local cloud). IRSA's variables come
from the pod spec, where the pod-identity webhook (`webhook`) put them.

The emulation's one trick: volumes are folders of the pod folder (`volumes/<volume name>/`), and a container's
command, args and env values have every volume's mountPath rewritten to its folder (so `/airflow/xcom/return.json`
is `<pod>/volumes/xcom/return.json`, shared by the containers that mount `xcom`). Programs that build paths from
parts at run time are not rewritten.

Lifecycle as a kubelet reports it: Pending with PodScheduled, then each container pulled, created, started (events
Scheduled, Pulled, Created, Started), Running, and Succeeded or Failed once every container has terminated (exit 0:
Completed, else Error). Output is kept per container with kubelet's RFC 3339 timestamps. Container processes are named
in a process record (`helpers.localcloud.processes`), so they are stopped on delete, on shutdown and after a crash.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from helpers.localcloud import processes
from helpers.localcloud.emulators.eks import images
from helpers.localcloud.emulators.eks.objects import RESOURCES, now

PODS = RESOURCES[("", "pods")]
EVENTS = RESOURCES[("", "events")]
STOP_GRACE = 2.0  # seconds between SIGTERM and SIGKILL when a pod is deleted (Kubernetes: 30 s by default)
BACKOFF_SECONDS = 2.0
_KILL_PID_1 = re.compile(r"(\bkill\b(?:\s+-(?:s\s+)?\w+)?\s+)1(?=\s|;|$)")
_KILL_SIG_PREFIX = re.compile(r"(\bkill\s+-(?:s\s+)?)SIG(?=[A-Z])")


def stamp() -> str:
    """RFC 3339 with nanoseconds, as kubelet prefixes log lines."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


class Container:
    def __init__(self, spec: dict, pod: PodRuntime):
        self.spec = spec
        self.name = spec["name"]
        self.pod = pod
        self.log = pod.folder / "logs" / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None
        self.drained = threading.Event()  # all output is in the log file
        self.finished = threading.Event()
        self.exec_pids: set[int] = set()
        self.image = images.resolve(spec.get("image", ""))
        self.run_dir = pod.folder / "run" / self.name

    # ---- what the process sees ----

    def rewrite(self, text: str) -> str:
        for mount, local in self.pod.mounts_of(self.spec):
            text = re.sub(re.escape(mount.rstrip("/")) + r"(?=/|\b|$)", local.replace("\\", "\\\\"), text)
        return text

    def environment(self, for_exec: bool = False) -> dict[str, str]:
        path = [str(self.run_dir / "bin")] if for_exec else []
        path += [p for p in ((self.image.bin_dir if self.image else ""), "/usr/bin", "/bin") if p]
        cluster = self.pod.cluster
        env = {"PATH": ":".join(path), "HOME": str(self.pod.folder), "HOSTNAME": self.pod.name, "LANG": "C.UTF-8",
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": cluster.region, "AWS_DEFAULT_REGION": cluster.region,
               "AWS_ENDPOINT_URL": cluster.gateway}
        fields = {"metadata.name": self.pod.name, "metadata.namespace": self.pod.namespace, "status.podIP": "127.0.0.1",
                  "spec.serviceAccountName": self.pod.service_account, "metadata.uid": self.pod.uid}
        for item in self.spec.get("env") or []:
            if "value" in item:
                env[item["name"]] = self.rewrite(str(item["value"]))
            elif ref := ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath"):
                env[item["name"]] = fields.get(ref, "")
        return env

    def argv(self) -> list[str]:
        argv = [self.rewrite(str(a)) for a in self.image.argv(self.spec.get("command"), self.spec.get("args"))]
        return argv

    def exec_argv(self, command: list[str]) -> list[str]:
        """An exec's command as the container would run it: mount paths rewritten, and PID 1 (the container's main
        process, in its own PID namespace) named by its local PID in `kill` commands (its stdin gets the same)."""
        return [self.exec_text(self.rewrite(part)) for part in command]

    def exec_text(self, text: str) -> str:
        # busybox's kill (alpine) takes `-s SIGINT`; the machine's /bin/sh may be dash, whose kill wants `-s INT`.
        text = _KILL_SIG_PREFIX.sub(r"\1", text)
        return _KILL_PID_1.sub(lambda m: f"{m.group(1)}{self.proc.pid if self.proc else 1}", text)

    # ---- lifecycle ----

    def start(self) -> str | None:
        """Start the process; returns an error message when it cannot start."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        (self.run_dir / "bin").mkdir(parents=True, exist_ok=True)
        _write_pgrep(self.run_dir)
        env = self.environment()
        argv = self.argv()
        if not argv:
            return "no command specified"
        program = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env["PATH"])
        if not program or not os.access(program, os.X_OK):
            return f'exec: "{argv[0]}": executable file not found in $PATH'
        self.proc = subprocess.Popen([program, *argv[1:]], cwd=self.pod.folder, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=default_signals)
        self.write_pids()
        threading.Thread(target=self._copy_output, name=f"eks-log-{self.name}", daemon=True).start()
        return None

    def _copy_output(self):
        with open(self.log, "ab", buffering=0) as out:
            for line in iter(self.proc.stdout.readline, b""):
                out.write(stamp().encode() + b" " + line + (b"" if line.endswith(b"\n") else b"\n"))
        self.proc.stdout.close()
        self.drained.set()

    def write_pids(self):
        roots = ([self.proc.pid] if self.proc else []) + sorted(self.exec_pids)
        tmp = self.run_dir / "pids.tmp"
        try:
            tmp.write_text("\n".join(map(str, roots)))
            tmp.replace(self.run_dir / "pids")
        except OSError:
            pass  # the pod was deleted and its folder removed

    def stop_execs(self):
        for pid in list(self.exec_pids):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def default_signals() -> None:
    """preexec_fn of every container process and exec: a container starts with default signal dispositions, but a
    process inherits ignored ones, and a gateway started from a non-interactive shell's background job ignores SIGINT
    and SIGQUIT. The XCom sidecar's `trap "exit 0" INT` then cannot take (a shell cannot trap a signal ignored on
    entry), the operator's `kill -2` does nothing and the task waits forever."""
    for number in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(number, signal.SIG_DFL)


def _write_pgrep(run_dir: Path):
    """`pgrep` for the container: it sees only the container's processes, as it would in the container's PID
    namespace (the XCom sidecar's exec runs `kill -2 $(pgrep -u $(id -u) -f 'sh')`, which on the host would signal
    every shell of the user)."""
    import sys

    script = run_dir / "bin" / "pgrep"
    script.write_text(f"""#!{sys.executable}
import os, re, sys
import psutil
args, pattern, full = sys.argv[1:], None, False
while args:
    arg = args.pop(0)
    if arg == "-f":
        full = True
    elif arg in ("-u", "-U", "-g", "-P"):
        args.pop(0)
    elif not arg.startswith("-"):
        pattern = arg
roots = [int(p) for p in open({str(run_dir / 'pids')!r}).read().split() if p.strip()]
me = psutil.Process()
skip = {{me.pid}} | {{p.pid for p in me.parents() if p.pid not in roots}}
found = []
for root in roots:
    try:
        family = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    except psutil.NoSuchProcess:
        continue
    for proc in family:
        try:
            text = " ".join(proc.cmdline()) if full else proc.name()
        except psutil.Error:
            continue
        if proc.pid not in skip and (pattern is None or re.search(pattern, text)):
            found.append(proc.pid)
print("\\n".join(map(str, sorted(set(found)))))
sys.exit(0 if found else 1)
""")
    script.chmod(0o755)


class PodRuntime:
    def __init__(self, cluster, pod: dict):
        self.cluster = cluster
        meta = pod["metadata"]
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.spec = pod.get("spec") or {}
        self.service_account = self.spec.get("serviceAccountName") or "default"
        self.folder = cluster.pods_dir / f"{self.namespace}_{self.name}_{self.uid[:8]}"
        self.record = processes.records_dir(cluster.localcloud_dir) / f"eks-{self.uid}.json"
        self.containers = {c["name"]: Container(c, self) for c in self.spec.get("containers") or []}
        self.deleted = threading.Event()
        self.volumes: dict[str, Path] = {}

    def mounts_of(self, container_spec: dict) -> list[tuple[str, str]]:
        mounts = [(m["mountPath"], str(self.volumes.get(m["name"], self.folder / "volumes" / m["name"])))
                  for m in container_spec.get("volumeMounts") or []]
        return sorted(mounts, key=lambda pair: -len(pair[0]))

    # ---- status in the store ----

    def _update(self, change):
        return self.cluster.store.update(PODS, self.namespace, self.name, change)

    def event(self, reason: str, message: str, kind: str = "Normal", field_path: str = ""):
        self.cluster.record_event(self.namespace, {"kind": "Pod", "namespace": self.namespace, "name": self.name,
                                                   "uid": self.uid, "apiVersion": "v1", "fieldPath": field_path},
                                  reason, message, kind)

    def _set_container(self, name: str, state: dict, **extra):
        spec = self.containers[name].spec

        def change(pod):
            status = pod.setdefault("status", {})
            statuses = status.setdefault("containerStatuses", [])
            entry = next((s for s in statuses if s["name"] == name), None)
            if entry is None:
                entry = {"name": name, "image": spec.get("image", ""), "imageID": "", "restartCount": 0,
                         "ready": False, "started": False}
                statuses.append(entry)
                order = [c["name"] for c in self.spec.get("containers") or []]
                statuses.sort(key=lambda s: order.index(s["name"]) if s["name"] in order else 99)
            entry["state"] = state
            entry["ready"] = entry["started"] = "running" in state
            entry.update(extra)
            _phase(pod, self.containers)

        self._update(change)

    # ---- running ----

    def start(self):
        threading.Thread(target=self._run, name=f"eks-pod-{self.name}", daemon=True).start()

    def _run(self):
        node = self.cluster.node_name

        def scheduled(pod):
            pod["spec"]["nodeName"] = node
            pod["status"].setdefault("conditions", []).append(
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now()})

        self._update(scheduled)
        self.event("Scheduled", f"Successfully assigned {self.namespace}/{self.name} to {node}", field_path="")
        try:
            self._prepare_volumes()
        except OSError as exc:
            self.event("FailedMount", f"MountVolume.SetUp failed: {exc}", "Warning")
            return

        def initialized(pod):
            pod["status"].update(hostIP="127.0.0.1", podIP="127.0.0.1", podIPs=[{"ip": "127.0.0.1"}], startTime=now())
            pod["status"]["conditions"].append({"type": "Initialized", "status": "True", "lastProbeTime": None,
                                                "lastTransitionTime": now()})

        self._update(initialized)
        waiting = []
        for container in self.containers.values():
            path = f"spec.containers{{{container.name}}}"
            image = container.spec.get("image", "")
            if self.deleted.is_set():
                return
            if container.image is None:
                message = images.pull_error(image)
                self.event("Pulling", f'Pulling image "{image}"', field_path=path)
                self.event("Failed", message, "Warning", path)
                self.event("Failed", "Error: ErrImagePull", "Warning", path)
                self._set_container(container.name, {"waiting": {"reason": "ErrImagePull", "message": message}})
                waiting.append(container)
                continue
            self.event("Pulled", f'Container image "{image}" already present on machine', field_path=path)
            error = container.start()
            if error:
                self.event("Failed", f"Error: {error}", "Warning", path)
                self._set_container(container.name, {"terminated": {
                    "exitCode": 128, "reason": "StartError", "message": error, "startedAt": None, "finishedAt": now()}})
                container.drained.set()
                container.finished.set()
                continue
            self._save_record()
            self.event("Created", f"Created container: {container.name}", field_path=path)
            self.event("Started", f"Started container {container.name}", field_path=path)
            self._set_container(container.name, {"running": {"startedAt": now()}},
                                containerID=f"local://{container.proc.pid}")
            threading.Thread(target=self._wait, args=(container,), daemon=True).start()
        if waiting:
            time.sleep(BACKOFF_SECONDS)
            for container in waiting:
                image = container.spec.get("image", "")
                path = f"spec.containers{{{container.name}}}"
                self.event("BackOff", f'Back-off pulling image "{image}"', field_path=path)
                self.event("Failed", "Error: ImagePullBackOff", "Warning", path)
                self._set_container(container.name, {"waiting": {
                    "reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}": {images.pull_error(image)}'}})

    def _wait(self, container: Container):
        started = now()
        code = container.proc.wait()
        container.drained.wait(10)
        container.stop_execs()
        if code < 0:
            code = 128 - code  # killed by a signal: 137 for SIGKILL, 143 for SIGTERM, as a runtime reports it
        self._set_container(container.name, {"terminated": {
            "exitCode": code, "reason": "Completed" if code == 0 else "Error", "startedAt": started,
            "finishedAt": now(), "containerID": f"local://{container.proc.pid}"}})
        container.finished.set()

    def _prepare_volumes(self):
        (self.folder / "volumes").mkdir(parents=True, exist_ok=True)
        for volume in self.spec.get("volumes") or []:
            local = self.folder / "volumes" / volume["name"]
            local.mkdir(parents=True, exist_ok=True)
            self.volumes[volume["name"]] = local
            for source in (volume.get("projected") or {}).get("sources") or []:
                token = source.get("serviceAccountToken")
                if token:
                    sa = self.cluster.service_account(self.namespace, self.service_account) or {}
                    text = self.cluster.issuer.token(
                        self.namespace, self.service_account, sa.get("metadata", {}).get("uid", ""), self.name,
                        self.uid, audience=token.get("audience") or "https://kubernetes.default.svc",
                        seconds=int(token.get("expirationSeconds") or 3600))
                    target = local / token.get("path", "token")
                    target.write_text(text)
                    target.chmod(0o600)

    def _save_record(self):
        running = {name: (c.proc.pid, processes.started(c.proc.pid)) for name, c in self.containers.items()
                   if c.proc is not None and c.proc.poll() is None}
        processes.write_record(self.record, f"eks:{self.namespace}/{self.name}", running)

    def stop(self, grace: float = STOP_GRACE):
        """Kill every process of the pod (SIGTERM, then SIGKILL after `grace`), forget its record and remove its folder
        (its emptyDir volumes and logs go with the pod, as on a node)."""
        self.deleted.set()
        for container in self.containers.values():
            container.stop_execs()
        processes.stop_record(self.record, grace)
        for container in self.containers.values():
            if container.proc is not None:
                try:
                    container.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        shutil.rmtree(self.folder, ignore_errors=True)


def _phase(pod: dict, containers: dict[str, Container]):
    status = pod["status"]
    states = [next(iter(s["state"])) for s in status.get("containerStatuses", [])]
    complete = len(states) == len(containers)
    if complete and all(s == "terminated" for s in states):
        codes = [s["state"]["terminated"]["exitCode"] for s in status["containerStatuses"]]
        status["phase"] = "Succeeded" if all(c == 0 for c in codes) else "Failed"
    elif complete and "waiting" not in states and "running" in states:
        status["phase"] = "Running"
    else:
        status["phase"] = "Pending"
    ready = complete and all(s == "running" for s in states)
    conditions = [c for c in status.get("conditions", []) if c["type"] not in ("ContainersReady", "Ready")]
    if any(c["type"] == "Initialized" for c in conditions):
        for kind in ("ContainersReady", "Ready"):
            condition = {"type": kind, "status": "True" if ready else "False", "lastProbeTime": None,
                         "lastTransitionTime": now()}
            if not ready:
                condition["reason"] = "PodCompleted" if status["phase"] in ("Succeeded", "Failed") else "ContainersNotReady"
            conditions.append(condition)
    status["conditions"] = conditions
