"""The local cloud's AWS endpoint: one loopback HTTP server in front of moto and the workbook's emulators.

Requests are routed by the SigV4 signing name in the Authorization header: services moto lacks
(see `helpers.localcloud.emulators`) go to the workbook's emulator for them, the rest to moto. An emulator
with a `serves(path)` method takes only the paths it accepts (Lambda's Invoke); moto gets the others.
`/_workbook/health` answers with the token this server was started with, so the workbook can
tell its own server from another program that happens to hold the port. `/_workbook/calls` counts the
API calls served per service and action (JSON-protocol services name the action in X-Amz-Target), so a
notebook can measure, for example, how many GetSecretValue calls a DAG parse costs; DELETE resets it.

In front of it all, `helpers.localcloud.emulators.wrap_gateway` answers STS AssumeRoleWithWebIdentity (unsigned) and
enforces IAM policies on the sessions it issues.

Run by `helpers.localcloud` as `python -m helpers.localcloud.gateway --port N --token T`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from collections import Counter

_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


class Gateway:
    def __init__(self, moto_app, emulators: dict, paths: dict, token: str):
        self.moto_app = moto_app
        self.emulators = emulators
        self.paths = paths
        self.token = token
        self.calls: Counter = Counter()
        self.lock = threading.Lock()

    def _json(self, start_response, payload) -> list[bytes]:
        body = json.dumps(payload).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_workbook/health":
            return self._json(start_response, {"token": self.token, "emulators": sorted(self.emulators)})
        if path == "/_workbook/calls":
            with self.lock:
                counts = {f"{service}:{action}": n for (service, action), n in sorted(self.calls.items())}
                if environ.get("REQUEST_METHOD") == "DELETE":
                    self.calls.clear()
            return self._json(start_response, counts)
        match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match and (target := environ.get("HTTP_X_AMZ_TARGET")):
            with self.lock:
                self.calls[(match.group(1), target.rsplit(".", 1)[-1])] += 1
        emulator = self.emulators.get(match.group(1)) if match else None
        if emulator is not None and not getattr(emulator, "serves", lambda _path: True)(path):
            emulator = None  # an emulator of part of a service (Lambda's Invoke): moto serves the rest
        if emulator is None:
            emulator = next((app for prefix, app in self.paths.items() if path.startswith(prefix)), None)
        return (emulator or self.moto_app)(environ, start_response)


def build_app(token: str, state_dir: str, endpoint: str):
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from helpers.localcloud.emulators import load_emulators, wrap_gateway

    by_scope, by_path = load_emulators(state_dir, endpoint)
    return wrap_gateway(Gateway(DomainDispatcherApplication(create_backend_app), by_scope, by_path, token), state_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)

    # moto's own callbacks (Step Functions, SNS->SQS) need to find this server.
    os.environ["MOTO_PORT"] = str(args.port)
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import run_simple

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Airflow components that exit on their own would stay zombies of this long-lived process until it ends.
    from helpers.localcloud.processes import start_reaper

    start_reaper()
    app = build_app(args.token, args.state_dir, f"http://127.0.0.1:{args.port}")
    run_simple("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
