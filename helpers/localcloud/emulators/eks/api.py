"""The Kubernetes API subset of a local EKS cluster, served by aiohttp (JSON as the API server returns it, so the
python `kubernetes` client deserializes it), and each cluster's OIDC issuer.

Paths: `/clusters/<ID>/api/v1/...` and `/clusters/<ID>/apis/rbac.authorization.k8s.io/v1/...` (the cluster's
`endpoint` is `https://127.0.0.1:<port>/clusters/<ID>`); `/id/<ID>/.well-known/openid-configuration` and
`/id/<ID>/keys` (the issuer). Served: namespaces, serviceaccounts, configmaps, roles, rolebindings, clusterroles,
clusterrolebindings (create, get, list, replace, patch, delete), pods (the same, plus `status`, `log` with follow,
timestamps, sinceSeconds and tailLines, and `exec` over WebSocket: `v5.channel.k8s.io`, `v4.channel.k8s.io`,
`channel.k8s.io`), events (list, field selector `involvedObject.name`). Not served: watches, other resources.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import shutil
import signal
import threading
import time

from aiohttp import WSMsgType, web

from helpers.localcloud.emulators.eks import access, webhook
from helpers.localcloud.emulators.eks.authn import Unauthorized, check_token
from helpers.localcloud.emulators.eks.objects import RESOURCES, Conflict, json_patch, matches_fields, matches_labels, merge_patch, now
from helpers.localcloud.emulators.eks.runtime import default_signals

PODS = RESOURCES[("", "pods")]
NAMESPACES = RESOURCES[("", "namespaces")]
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
_DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TOKEN_CACHE_SECONDS = 60.0


def status(code: int, reason: str, message: str, details: dict | None = None) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return web.json_response(body, status=code)


def not_found(resource, name: str) -> web.Response:
    return status(404, "NotFound", f'{resource.plural} "{name}" not found', {"name": name, "kind": resource.plural})


class Api:
    def __init__(self, clusters):
        self.clusters = clusters  # id -> Cluster
        self.tokens: dict[str, tuple[float, object]] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_get("/id/{id}/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/id/{id}/keys", self.keys)
        app.router.add_route("*", "/clusters/{id}/{tail:.*}", self.kubernetes)
        return app

    # ---- OIDC ----

    async def discovery(self, request):
        cluster = self.clusters.get(request.match_info["id"])
        return web.json_response(cluster.issuer.discovery()) if cluster else web.Response(status=404)

    async def keys(self, request):
        cluster = self.clusters.get(request.match_info["id"])
        return web.json_response(cluster.issuer.jwks()) if cluster else web.Response(status=404)

    # ---- Kubernetes ----

    async def _principal(self, cluster, request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise Unauthorized("no bearer token")
        token = header[len("Bearer "):].strip()
        cached = self.tokens.get(token)
        if cached and time.monotonic() - cached[0] < TOKEN_CACHE_SECONDS:
            return cached[1]
        principal = await _in_daemon_thread(check_token, token, cluster.name, cluster.gateway)
        self.tokens[token] = (time.monotonic(), principal)
        return principal

    async def kubernetes(self, request: web.Request):
        cluster = self.clusters.get(request.match_info["id"])
        if cluster is None:
            return web.Response(status=404, text="cluster not found")
        try:
            principal = await self._principal(cluster, request)
        except Unauthorized:
            return status(401, "Unauthorized", "Unauthorized")
        user = access.user_for(cluster.store, principal, cluster.creator_arn)
        if user is None:
            return status(401, "Unauthorized", "Unauthorized")
        parts = [p for p in request.match_info["tail"].split("/") if p]
        if parts == ["version"]:
            return web.json_response({"major": "1", "minor": "31", "gitVersion": "v1.31.0-eks-local",
                                      "platform": "linux/amd64"})
        if parts == ["api"]:
            return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if request.method == "POST" and parts == ["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"]:
            return await self.subject_access_review(request, cluster, user)
        if request.method == "POST" and len(parts) == 7 and parts[:3] == ["api", "v1", "namespaces"] and \
                parts[4] == "serviceaccounts" and parts[6] == "token":
            return await self.token_request(request, cluster, user, parts[3], parts[5])
        route = _route(parts)
        if route is None:
            return status(404, "NotFound", "the server could not find the requested resource")
        resource, namespace, name, sub = route
        attrs = access.Attributes(_verb(request, name, sub), resource.plural, resource.group, namespace, name, sub)
        if not access.allowed(cluster.store, user, attrs):
            return status(403, "Forbidden", access.forbidden_message(user, attrs),
                          {"name": name, "kind": resource.plural} if name else {"kind": resource.plural})
        if sub == "log":
            return await self.log(request, cluster, namespace, name)
        if sub == "exec":
            return await self.exec(request, cluster, namespace, name)
        return await self.crud(request, cluster, resource, namespace, name, sub, attrs.verb)

    async def subject_access_review(self, request, cluster, user):
        """`kubectl auth can-i --as`: may this user do that? Asking is itself a permission (cluster admins have it)."""
        attrs = access.Attributes("create", "subjectaccessreviews", "authorization.k8s.io")
        if not access.allowed(cluster.store, user, attrs):
            return status(403, "Forbidden", access.forbidden_message(user, attrs))
        body = await request.json()
        spec = body.get("spec") or {}
        asked = spec.get("resourceAttributes") or {}
        subject = access.User(spec.get("user") or "", [*(spec.get("groups") or []), "system:authenticated"])
        question = access.Attributes(asked.get("verb", ""), asked.get("resource", ""), asked.get("group", ""),
                                     asked.get("namespace", ""), asked.get("name", ""), asked.get("subresource", ""))
        allowed = access.allowed(cluster.store, subject, question)
        body["status"] = {"allowed": allowed, "reason": "RBAC: allowed by a binding" if allowed else ""}
        return web.json_response({**body, "kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1"},
                                 status=201)

    async def token_request(self, request, cluster, user, namespace, name):
        """TokenRequest (`kubectl create token`): a token for a service account, signed by the cluster's issuer."""
        attrs = access.Attributes("create", "serviceaccounts", "", namespace, name, "token")
        if not access.allowed(cluster.store, user, attrs):
            return status(403, "Forbidden", access.forbidden_message(user, attrs))
        account = cluster.service_account(namespace, name)
        if account is None:
            return not_found(RESOURCES[("", "serviceaccounts")], name)
        body = await request.json()
        spec = body.get("spec") or {}
        seconds = int(spec.get("expirationSeconds") or 3600)
        audiences = spec.get("audiences") or [cluster.issuer.url]
        token = cluster.issuer.token(namespace, name, account["metadata"].get("uid", ""), None, None,
                                     audience=audiences[0], seconds=seconds)
        expires = datetime.datetime.fromtimestamp(time.time() + seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return web.json_response({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                                  "metadata": {"name": name, "namespace": namespace}, "spec": spec,
                                  "status": {"token": token, "expirationTimestamp": expires}}, status=201)

    async def crud(self, request, cluster, resource, namespace, name, sub, verb):
        store = cluster.store
        if resource.namespaced and namespace and verb in ("create",) and not store.get(NAMESPACES, "", namespace):
            return not_found(NAMESPACES, namespace)
        if verb == "get":
            obj = store.get(resource, namespace, name)
            return web.json_response(obj) if obj else not_found(resource, name)
        if verb in ("list", "watch"):
            if verb == "watch":
                return status(405, "MethodNotAllowed", "watch is not served by the local EKS")
            items = [o for o in store.list(resource, namespace or None)
                     if matches_labels((o.get("metadata") or {}).get("labels"), request.query.get("labelSelector", ""))
                     and matches_fields(o, request.query.get("fieldSelector", ""))]
            return web.json_response({"kind": f"{resource.kind}List", "apiVersion": resource.api_version,
                                      "metadata": {"resourceVersion": str(store.version)}, "items": items})
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return status(400, "BadRequest", "the request body is not JSON")
        if verb == "create":
            return self.create(cluster, resource, namespace, body)
        if verb in ("update", "patch"):
            old = store.get(resource, namespace, name)
            if old is None:
                return not_found(resource, name)
            if verb == "patch":
                kind = request.content_type
                body = json_patch(old, body) if kind == "application/json-patch+json" else merge_patch(old, body)
            if resource is PODS and sub != "status":
                body["status"], body["spec"] = old.get("status"), {**old["spec"], **{
                    k: v for k, v in (body.get("spec") or {}).items() if k in ("activeDeadlineSeconds",)}}
            return web.json_response(store.replace(resource, namespace, name, body))
        if verb == "delete":
            obj = store.delete(resource, namespace, name)
            if obj is None:
                return not_found(resource, name)
            if resource is PODS:
                cluster.stop_pod(namespace, name)
                obj["metadata"]["deletionTimestamp"] = now()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
            elif resource is NAMESPACES:
                for key in [k for k in cluster.pods if k[0] == name]:
                    cluster.stop_pod(*key)
                obj["status"] = {"phase": "Terminating"}
            return web.json_response(obj)
        return status(405, "MethodNotAllowed", f"{verb} is not supported on {resource.plural}")

    def create(self, cluster, resource, namespace, body):
        meta = body.setdefault("metadata", {}) if isinstance(body, dict) else None
        if meta is None:
            return status(400, "BadRequest", "the request body is not an object")
        name = meta.get("name") or ""
        if not name and not meta.get("generateName"):
            return status(422, "Invalid", f"{resource.kind} \"\" is invalid: metadata.name: Required value: name or "
                                          "generateName is required")
        if name and not _DNS_1123.match(name):
            return status(422, "Invalid", f'{resource.kind} "{name}" is invalid: metadata.name: Invalid value: '
                                          f'"{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                                          "alphanumeric characters, '-' or '.'")
        if resource is PODS:
            spec = body.setdefault("spec", {})
            sa_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
            spec["serviceAccountName"] = spec["serviceAccount"] = sa_name
            spec.setdefault("restartPolicy", "Always")
            sa = cluster.service_account(namespace, sa_name)
            if sa is None:
                return status(403, "Forbidden", f'pods "{name}" is forbidden: error looking up service account '
                                                f'{namespace}/{sa_name}: serviceaccount "{sa_name}" not found')
            webhook.mutate(body, sa)
            body["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        try:
            obj = cluster.store.create(resource, namespace, body)
        except Conflict:
            return status(409, "AlreadyExists", f'{resource.plural} "{name}" already exists',
                          {"name": name, "kind": resource.plural})
        if resource is PODS:
            cluster.run_pod(obj)
        return web.json_response(obj, status=201)

    # ---- pods/log ----

    def _container(self, cluster, namespace, name, wanted: str | None):
        """(runtime, container) or an error response, as the API server words them."""
        runtime = cluster.pods.get((namespace, name))
        if runtime is None or cluster.store.get(PODS, namespace, name) is None:
            return None, not_found(PODS, name)
        names = list(runtime.containers)
        if not wanted:
            if len(names) != 1:
                return None, status(400, "BadRequest", f"a container name must be specified for pod {name}, choose "
                                                       f"one of: [{' '.join(names)}]")
            wanted = names[0]
        container = runtime.containers.get(wanted)
        if container is None:
            return None, status(400, "BadRequest", f"container {wanted} is not valid for pod {name}")
        return (runtime, container), None

    async def log(self, request, cluster, namespace, name):
        found, error = self._container(cluster, namespace, name, request.query.get("container"))
        if error:
            return error
        runtime, container = found
        if container.proc is None and not container.finished.is_set():
            return status(400, "BadRequest", f'container "{container.name}" in pod "{name}" is waiting to start: '
                                             + ("image can't be pulled" if container.image is None else "ContainerCreating"))
        follow = _flag(request, "follow")
        timestamps = _flag(request, "timestamps")
        since = request.query.get("sinceSeconds")
        cutoff = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=int(since))
                  ).strftime("%Y-%m-%dT%H:%M:%S.%f") if since else ""
        tail = int(request.query["tailLines"]) if request.query.get("tailLines") else None
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)

        def shown(line: bytes) -> bytes | None:
            stamp, _, text = line.partition(b" ")
            if cutoff and stamp.decode()[:26] < cutoff:
                return None
            return line if timestamps else text

        offset = 0
        with open(container.log, "rb") as log:
            data = log.read()
            offset = len(data)
            lines = [x for x in (shown(line) for line in data.splitlines(keepends=True) if line.endswith(b"\n"))
                     if x is not None]
            offset = sum(len(line) for line in data.splitlines(keepends=True) if line.endswith(b"\n"))
            await response.write(b"".join(lines[-tail:] if tail is not None else lines) if tail != 0 else b"")
            while follow and not runtime.deleted.is_set():
                done = container.finished.is_set() and container.drained.is_set()
                log.seek(offset)
                data = log.read()
                complete = data[: data.rfind(b"\n") + 1]
                if complete:
                    offset += len(complete)
                    await response.write(b"".join(x for x in (shown(line) for line in complete.splitlines(keepends=True))
                                                  if x is not None))
                elif done:
                    break
                else:
                    await asyncio.sleep(0.1)
        await response.write_eof()
        return response

    # ---- pods/exec ----

    async def exec(self, request, cluster, namespace, name):
        found, error = self._container(cluster, namespace, name, request.query.get("container"))
        if error:
            return error
        runtime, container = found
        if container.proc is None or container.proc.poll() is not None:
            return status(400, "BadRequest", f'container {container.name} is not running in pod {name}: cannot exec')
        command = request.query.getall("command", [])
        if not command:
            return status(400, "BadRequest", "you must specify at least 1 command")
        ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS)
        if not ws.can_prepare(request).ok:
            return status(400, "BadRequest", "Upgrade request required")
        await ws.prepare(request)
        use_stdin = _flag(request, "stdin")
        env = container.environment(for_exec=True)
        argv = container.exec_argv(command)
        program = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env["PATH"])
        if not program:
            await self._status(ws, 126, f'OCI runtime exec failed: exec failed: unable to start container process: '
                                        f'exec: "{argv[0]}": executable file not found in $PATH: unknown', command)
            await ws.close()
            return ws
        proc = await asyncio.create_subprocess_exec(
            program, *argv[1:], cwd=runtime.folder, env=env, start_new_session=True, preexec_fn=default_signals,
            stdin=asyncio.subprocess.PIPE if use_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        container.exec_pids.add(proc.pid)
        container.write_pids()

        async def pump(stream, channel: int):
            while chunk := await stream.read(65536):
                await ws.send_bytes(bytes([channel]) + chunk)

        async def feed():
            async for message in ws:
                if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT) or proc.stdin is None:
                    continue
                data = message.data if isinstance(message.data, bytes) else message.data.encode()
                if not data:
                    continue
                if data[0] == 255 and data[1:2] == b"\x00":  # v5: the client closed stdin
                    proc.stdin.close()
                elif data[0] == 0 and len(data) > 1:
                    text = data[1:].decode(errors="surrogateescape")
                    proc.stdin.write(container.exec_text(container.rewrite(text)).encode(errors="surrogateescape"))
                    await proc.stdin.drain()

        feeder = asyncio.create_task(feed())
        try:
            await asyncio.gather(pump(proc.stdout, 1), pump(proc.stderr, 2))
            code = await proc.wait()
            await self._status(ws, code, "", command, ws.ws_protocol)
        finally:
            feeder.cancel()
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await proc.wait()
            container.exec_pids.discard(proc.pid)
            container.write_pids()
            await ws.close()
        return ws

    async def _status(self, ws, code: int, message: str, command, protocol: str | None = "v4.channel.k8s.io"):
        if protocol == "channel.k8s.io" or ws.closed:
            return
        if code == 0:
            body = {"metadata": {}, "status": "Success"}
        else:
            if code < 0:
                code = 128 - code
            body = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                    "message": message or f"command terminated with non-zero exit code: error executing command "
                                          f"{command}, exit code {code}",
                    "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        await ws.send_bytes(b"\x03" + json.dumps(body).encode())


async def _in_daemon_thread(function, *args):
    """Run a blocking call (the STS request) off the event loop in a daemon thread: the default executor's threads
    are joined at exit, which would hold up the gateway's SIGTERM."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(outcome, failed: bool):
        if not future.done():
            (future.set_exception if failed else future.set_result)(outcome)

    def run():
        try:
            loop.call_soon_threadsafe(settle, function(*args), False)
        except BaseException as exc:  # noqa: BLE001  (handed to the awaiting request)
            loop.call_soon_threadsafe(settle, exc, True)

    threading.Thread(target=run, name="local-eks-sts", daemon=True).start()
    return await future


def _route(parts: list[str]):
    """(resource, namespace, name, subresource) for an API path, or None."""
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis" and parts[2] == "v1":
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and (group, rest[2]) in RESOURCES:
        namespace, rest = rest[1], rest[2:]
    resource = RESOURCES.get((group, rest[0]))
    if resource is None or len(rest) > 3:
        return None
    return resource, namespace, rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""


def _verb(request, name: str, sub: str) -> str:
    if sub == "exec":
        return "create"  # Kubernetes 1.31+ authorizes WebSocket exec as create on pods/exec
    method = request.method
    if method == "GET":
        return "get" if name else ("watch" if _flag(request, "watch") else "list")
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if name else "deletecollection"}.get(method, method.lower())


def _flag(request, name: str) -> bool:
    """A boolean query parameter as Go's strconv.ParseBool reads it (the python client sends `True`)."""
    return request.query.get(name, "") in ("1", "t", "T", "true", "TRUE", "True")
