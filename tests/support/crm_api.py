"""A loopback stand-in for a customer's CRM API, for personalisation tests and benchmarks.

It listens on 127.0.0.1 (random port) in a background thread and answers
``GET /customers/<key>`` with that customer's JSON record. It counts every call (in all and per
key), tracks how many requests are in flight at once (and the most ever), and can be told to be
slow or to fail the way real CRMs fail.

Usage::

    from tests.support.crm_api import CRMStandIn

    with CRMStandIn(records={"C-1": {"tier": "gold"}}) as crm:
        source = DataSourceFactory(url_template=crm.url_template("external_id"))
        crm.latency = 0.3                       # every answer 300 ms late
        crm.fail_with(500, keys=["C-2"])        # C-2 gets a 500 (all keys when keys is None)
        crm.bad_json(keys=["C-3"])              # C-3 gets 200 with a body that is not JSON
        crm.respond(200, [1, 2], keys=["C-4"])  # any status and JSON body
        crm.slow(1.0, keys=["C-5"])             # C-5 answers after 1 s (provokes timeouts)
        ...
        assert crm.calls == 3 and crm.calls_for("C-1") == 1 and crm.max_in_flight <= 8

Unknown keys get a 404 with a JSON error, unless `default_record` (a function of the key) makes
up a record for every key, as benchmarks with thousands of customers do. `required_headers`
answers 401 to requests without those exact header values.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

CUSTOMERS_PREFIX = "/customers/"


@dataclass(frozen=True)
class _Script:
    status: int
    body: bytes
    content_type: str = "application/json"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 refuses connections once a client opens dozens at once.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out hang up mid-answer; that is expected here, not an error."""


class CRMStandIn:
    def __init__(
        self,
        *,
        records: dict[str, Any] | None = None,
        default_record: Callable[[str], Any] | None = None,
        latency: float = 0.0,
        required_headers: dict[str, str] | None = None,
    ) -> None:
        self.records: dict[str, Any] = dict(records or {})
        self.default_record = default_record
        self.latency = latency
        self.required_headers = dict(required_headers or {})
        self.calls_by_key: Counter[str] = Counter()
        self.received_headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._scripts: dict[str | None, _Script] = {}
        self._slow: dict[str | None, float] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> CRMStandIn:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.stand_in = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cut every pending delay short
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CRMStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the CRM stand-in is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_template(self, key_field: str = "external_id") -> str:
        return f"{self.base_url}{CUSTOMERS_PREFIX}{{{key_field}}}"

    # --- scripting ---------------------------------------------------------------------------

    def respond(self, status: int, body: Any, *, keys: Iterable[str] | None = None) -> None:
        """Answer `keys` (every key when None) with `status` and `body` as JSON."""
        self._script(keys, _Script(status, json.dumps(body).encode()))

    def fail_with(self, status: int, *, keys: Iterable[str] | None = None) -> None:
        self._script(keys, _Script(status, b"<html>upstream error</html>", "text/html"))

    def bad_json(self, *, keys: Iterable[str] | None = None) -> None:
        self._script(keys, _Script(200, b'{"tier": "gold",', "application/json"))

    def slow(self, seconds: float, *, keys: Iterable[str] | None = None) -> None:
        for key in [None] if keys is None else keys:
            self._slow[key] = seconds

    def heal(self) -> None:
        """Forget every failure and delay scripted so far (records and `latency` stay)."""
        self._scripts.clear()
        self._slow.clear()

    def _script(self, keys: Iterable[str] | None, script: _Script) -> None:
        for key in [None] if keys is None else keys:
            self._scripts[key] = script

    # --- counting ----------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        with self._lock:
            return sum(self.calls_by_key.values())

    def calls_for(self, key: str) -> int:
        with self._lock:
            return self.calls_by_key[key]

    def reset_counts(self) -> None:
        with self._lock:
            self.calls_by_key.clear()
            self.received_headers.clear()
            self.max_in_flight = self.in_flight

    # --- answering (called from the server's threads) -----------------------------------------

    def _enter(self, key: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.calls_by_key[key] += 1
            self.received_headers.append(headers)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _delay_for(self, key: str) -> float:
        return self._slow.get(key, self._slow.get(None, self.latency))

    def _answer(self, key: str, headers: dict[str, str]) -> _Script:
        for name, value in self.required_headers.items():
            if headers.get(name.lower()) != value:
                return _Script(401, b'{"error": "unauthorised"}')
        script = self._scripts.get(key) or self._scripts.get(None)
        if script is not None:
            return script
        if key in self.records:
            return _Script(200, json.dumps(self.records[key]).encode())
        if self.default_record is not None:
            return _Script(200, json.dumps(self.default_record(key)).encode())
        return _Script(404, b'{"error": "no such customer"}')


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a pooled client reuses its connections
    # Headers and body go out in two writes; without this, Nagle's algorithm meets the client's
    # delayed ACK and every answer on a kept-alive connection waits ~40 ms.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        stand_in: CRMStandIn = self.server.stand_in  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        if not path.startswith(CUSTOMERS_PREFIX):
            self._send(_Script(404, b'{"error": "no such endpoint"}'))
            return
        key = unquote(path[len(CUSTOMERS_PREFIX) :])
        headers = {name.lower(): value for name, value in self.headers.items()}
        stand_in._enter(key, headers)
        try:
            delay = stand_in._delay_for(key)
            if delay and stand_in._stopping.wait(delay):
                return
            self._send(stand_in._answer(key, headers))
        finally:
            stand_in._leave()

    def _send(self, script: _Script) -> None:
        self.send_response(script.status)
        self.send_header("Content-Type", script.content_type)
        self.send_header("Content-Length", str(len(script.body)))
        self.end_headers()
        self.wfile.write(script.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the counters instead."""
