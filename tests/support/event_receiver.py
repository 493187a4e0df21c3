"""A loopback stand-in for an integrator's endpoint that receives Tidings' outbound events.

It listens on 127.0.0.1 (random port) in a background thread, records every request (headers
and raw body) and answers 200 unless told otherwise::

    with EventReceiver() as receiver:
        subscription = subscription_create(target_url=receiver.url, event_types=[...])
        receiver.script(500, 503)          # the next two requests get these, then 200 again
        receiver.always(500)               # every request gets 500 from now on
        receiver.latency = 2.0             # answer two seconds late (provokes timeouts)
        receiver.redirect_to("http://...") # answer 302 with this Location
        ...
        receiver.requests[0].json["type"], receiver.requests[0].headers["X-Tidings-Signature"]
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.json["id"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out hang up mid-answer; that is expected here."""


class EventReceiver:
    def __init__(self, *, path: str = "/hooks/tidings") -> None:
        self.path = path
        self.latency = 0.0
        self.requests: list[ReceivedRequest] = []
        self._scripted: deque[int] = deque()
        self._always: int | None = None
        self._location = ""
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def __enter__(self) -> EventReceiver:
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    # --- behaviour ---

    def script(self, *statuses: int) -> None:
        with self._lock:
            self._scripted.extend(statuses)

    def always(self, status: int | None) -> None:
        with self._lock:
            self._always = status

    def redirect_to(self, location: str) -> None:
        with self._lock:
            self._location = location
            self._always = 302

    def event_ids(self) -> list[str]:
        with self._lock:
            return [request.event_id for request in self.requests]

    def _next_status(self) -> int:
        with self._lock:
            if self._scripted:
                return self._scripted.popleft()
            return self._always or 200

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver._record(
                    ReceivedRequest(path=self.path, headers=dict(self.headers.items()), body=body)
                )
                if receiver.latency:
                    time.sleep(receiver.latency)
                status = receiver._next_status()
                answer = json.dumps({"received": status < 300}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                if status in (301, 302, 307, 308):
                    self.send_header("Location", receiver._location or "http://127.0.0.1:9/")
                self.end_headers()
                self.wfile.write(answer)

        return Handler
