"""The local EKS's HTTPS server: aiohttp on its own event loop, in a thread of the gateway process, on 127.0.0.1 and a
free port, with the server certificate `certs` makes."""

from __future__ import annotations

import asyncio
import ssl
import threading
from pathlib import Path

from aiohttp import web

from helpers.localcloud.processes import LOOPBACK, free_port


class HttpsServer:
    def __init__(self, app: web.Application, cert: Path, key: Path):
        self.app, self.cert, self.key = app, cert, key
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="local-eks-api", daemon=True)

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    def start(self) -> HttpsServer:
        self.thread.start()
        if not self.ready.wait(30):
            raise RuntimeError("the local EKS API server did not start in 30 s")
        return self

    def _serve(self):
        asyncio.set_event_loop(self.loop)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        self.runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, LOOPBACK, self.port, ssl_context=context).start())
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        if self.runner is None or self.loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop)
        try:
            future.result(10)
        except Exception:  # noqa: BLE001  (stopping anyway)
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
