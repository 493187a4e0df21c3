"""A loopback stand-in for Meta's WhatsApp Cloud API, for tests of anything that sends.

It listens on 127.0.0.1 (random port) in a background thread and speaks Meta's format: strict
about what Meta is strict about, countable, and scriptable to fail the way Meta and networks fail.

Usage::

    from tests.support.meta_api import MetaAPIStandIn

    with MetaAPIStandIn(access_token="token") as meta:
        meta.add_template("order_update", "en_US", body_text="Hi {{1}}, order {{2}} shipped.")
        provider = CloudAPIProvider(access_token="token", base_url=meta.base_url)
        meta.fail_next(130429)            # the next request gets Meta's throughput error
        ...
        assert meta.send_count == 1       # POSTs to /messages received, whatever the answer

or through the ready-made `meta_api` fixture (token "test-access-token"), by importing it into a
conftest (`from tests.support.meta_api import meta_api  # noqa: F401`) or registering this module
in the root conftest's `pytest_plugins`.

What it checks, like Meta (HTTP 400 unless noted):
* `Authorization: Bearer <access_token>` (else HTTP 401 with code 190); `access_token` may be
  reassigned at any time to simulate a rotation;
* `/messages`: a JSON body with `messaging_product: "whatsapp"` and `to` (else 100); template
  text parameters and button payloads must be JSON strings (else 100); the template must be known
  in that language and APPROVED (else 132001) and the header/body parameter counts must match its
  placeholders (else 132000). `strict_templates=False` accepts any template name;
* `/message_templates`: GET lists the catalogue with cursor paging (`paging.cursors.after` and an
  absolute `paging.next` URL, left out on the last page); POST creates a PENDING template (a
  duplicate name + language is code 100 / subcode 2388024 with `error_user_msg`).

Scripting (applies to the next matching requests, in the order scripted; `endpoint` can narrow a
script to "messages" or "message_templates"):
* `fail_next(code, ...)`: answer with Meta's error envelope for `code`;
* `server_error_next(...)`: a 5xx with a non-JSON body;
* `delay_next(seconds)`: process the request normally but answer late (provokes read timeouts;
  the message counts as accepted, which is what makes a timeout ambiguous);
* `drop_next()`: close the connection without answering;
* `respond_next(status, body)`: any raw answer.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MESSAGES_PATH = re.compile(r"^/(?:v[0-9.]+/)?(?P<node>[^/]+)/messages/?$")
TEMPLATES_PATH = re.compile(r"^/(?:v[0-9.]+/)?(?P<node>[^/]+)/message_templates/?$")
_DEFAULT_ERROR_DATA = object()


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 makes a burst of concurrent sends wait for SYN retries.
    request_queue_size = 256
    daemon_threads = True


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it. `body` is the parsed JSON, or None;
    `received_at` is `time.monotonic()` when the request arrived (for rate checks)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    body: Any
    received_at: float = field(default_factory=time.monotonic)

    @property
    def endpoint(self) -> str:
        if MESSAGES_PATH.match(self.path):
            return "messages"
        if TEMPLATES_PATH.match(self.path):
            return "message_templates"
        return "other"


@dataclass
class _Script:
    kind: str  # "respond", "delay" or "drop"
    remaining: int
    endpoint: str | None
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay_seconds: float = 0.0


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def meta_error_body(
    code: int,
    message: str,
    *,
    details: str | None = None,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    error_data: Any = _DEFAULT_ERROR_DATA,
    user_title: str | None = None,
    user_message: str | None = None,
    is_transient: bool | None = None,
    fbtrace_id: str = "AStandInTraceId",
) -> dict[str, Any]:
    """Meta's error envelope. `error_data` defaults to `{messaging_product, details}`; pass None
    to leave it out (plain Graph errors) or a string (template-management errors)."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if error_data is _DEFAULT_ERROR_DATA:
        error_data = {"messaging_product": "whatsapp", "details": details or message}
    if error_data is not None:
        error["error_data"] = error_data
    if subcode is not None:
        error["error_subcode"] = subcode
    if is_transient is not None:
        error["is_transient"] = is_transient
    if user_title is not None:
        error["error_user_title"] = user_title
    if user_message is not None:
        error["error_user_msg"] = user_message
    error["fbtrace_id"] = fbtrace_id
    return {"error": error}


class MetaAPIStandIn:
    """Meta's Cloud API on loopback. Start with `with` (or start()/stop())."""

    def __init__(
        self,
        *,
        access_token: str = "test-access-token",  # noqa: S107 - a test credential
        templates: list[dict[str, Any]] | None = None,
        strict_templates: bool = True,
        default_page_size: int = 25,
        latency_seconds: float = 0.0,
    ) -> None:
        self.access_token = access_token
        self.strict_templates = strict_templates
        self.default_page_size = default_page_size
        self.latency_seconds = latency_seconds
        self._lock = threading.Lock()
        self._scripts: list[_Script] = []
        self._requests: list[RecordedRequest] = []
        self._accepted: list[dict[str, Any]] = []
        self._templates: list[dict[str, Any]] = []
        self._wamid_counter = itertools.count(1)
        self._template_ids = itertools.count(700_000_000_000_001)
        self._in_flight = 0
        self._max_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for template in templates or []:
            self._templates.append(self._normalised_template(template))

    # --- Lifecycle ----------------------------------------------------------------------

    def start(self) -> MetaAPIStandIn:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.stand_in = self  # type: ignore[attr-defined]
        server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> MetaAPIStandIn:
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
            raise RuntimeError("the stand-in is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """Pass this as the provider's base URL; any `/vXX.X` version prefix is accepted."""
        return f"http://127.0.0.1:{self.port}"

    # --- What happened ------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """Every POST to `/messages`, accepted or not."""
        return [r for r in self.requests if r.method == "POST" and r.endpoint == "messages"]

    @property
    def send_count(self) -> int:
        """How many POSTs to `/messages` arrived, whatever the answer (or lack of one) was."""
        return len(self.message_requests)

    @property
    def sent_bodies(self) -> list[Any]:
        """The JSON bodies of every POST to `/messages`, in arrival order."""
        return [request.body for request in self.message_requests]

    @property
    def accepted_messages(self) -> list[dict[str, Any]]:
        """Bodies that were answered with a wamid, each with the wamid under `"_wamid"`."""
        with self._lock:
            return list(self._accepted)

    @property
    def max_in_flight(self) -> int:
        """The most requests that were being handled at the same moment."""
        with self._lock:
            return self._max_in_flight

    @property
    def template_page_requests(self) -> list[RecordedRequest]:
        """Every GET to `/message_templates` (one per page fetched), in arrival order."""
        return [r for r in self.requests if r.method == "GET" and r.endpoint == "message_templates"]

    @property
    def templates(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(template) for template in self._templates]

    # --- Catalogue ----------------------------------------------------------------------

    def add_template(
        self,
        name: str,
        language: str,
        *,
        body_text: str = "Hello",
        header_text: str | None = None,
        components: list[dict[str, Any]] | None = None,
        status: str = "APPROVED",
        category: str = "UTILITY",
        parameter_format: str = "POSITIONAL",
        template_id: str | None = None,
        quality_score: str | None = None,
    ) -> dict[str, Any]:
        """Add a template to the catalogue (components built from the texts unless given)."""
        if components is None:
            components = []
            if header_text is not None:
                components.append({"type": "HEADER", "format": "TEXT", "text": header_text})
            components.append({"type": "BODY", "text": body_text})
        template = {
            "id": template_id,
            "name": name,
            "language": language,
            "status": status,
            "category": category,
            "parameter_format": parameter_format,
            "components": components,
        }
        if quality_score is not None:
            template["quality_score"] = {"score": quality_score, "date": 1700000000}
        stored = self._normalised_template(template)
        with self._lock:
            self._templates.append(stored)
        return dict(stored)

    def _normalised_template(self, template: dict[str, Any]) -> dict[str, Any]:
        stored = dict(template)
        stored["id"] = str(stored.get("id") or next(self._template_ids))
        stored.setdefault("status", "APPROVED")
        stored.setdefault("category", "UTILITY")
        stored.setdefault("parameter_format", "POSITIONAL")
        stored.setdefault("components", [])
        return stored

    # --- Scripting ----------------------------------------------------------------------

    def _script(self, script: _Script) -> None:
        with self._lock:
            self._scripts.append(script)

    def respond_next(
        self,
        status: int,
        body: bytes | str | dict[str, Any] | list[Any],
        *,
        times: int = 1,
        endpoint: str | None = None,
        content_type: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests with exactly this status and body."""
        if isinstance(body, dict | list):
            raw = json.dumps(body).encode()
            content_type = content_type or "application/json"
        else:
            raw = body.encode() if isinstance(body, str) else body
            content_type = content_type or "text/plain"
        self._script(_Script("respond", times, endpoint, status, raw, content_type))

    def fail_next(
        self,
        code: int,
        *,
        times: int = 1,
        http_status: int = 400,
        message: str | None = None,
        details: str | None = None,
        subcode: int | None = None,
        error_data: Any = _DEFAULT_ERROR_DATA,
        user_title: str | None = None,
        user_message: str | None = None,
        is_transient: bool | None = None,
        endpoint: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests with Meta's error envelope for `code`."""
        body = meta_error_body(
            code,
            message or f"(#{code}) Scripted error",
            details=details,
            subcode=subcode,
            error_data=error_data,
            user_title=user_title,
            user_message=user_message,
            is_transient=is_transient,
        )
        self.respond_next(http_status, body, times=times, endpoint=endpoint)

    def server_error_next(
        self,
        *,
        times: int = 1,
        http_status: int = 500,
        body: str = "Internal Server Error",
        endpoint: str | None = None,
    ) -> None:
        """Answer with a 5xx and a non-JSON body, as a failing proxy or server would."""
        self.respond_next(http_status, body, times=times, endpoint=endpoint)

    def delay_next(self, seconds: float, *, times: int = 1, endpoint: str | None = None) -> None:
        """Process the next requests normally but answer only after `seconds`."""
        self._script(_Script("delay", times, endpoint, delay_seconds=seconds))

    def drop_next(self, *, times: int = 1, endpoint: str | None = None) -> None:
        """Close the connection of the next requests without any answer."""
        self._script(_Script("drop", times, endpoint))

    def _take_script(self, endpoint: str) -> _Script | None:
        with self._lock:
            for script in self._scripts:
                if script.endpoint in (None, endpoint):
                    script.remaining -= 1
                    if script.remaining <= 0:
                        self._scripts.remove(script)
                    return script
        return None

    # --- Request handling (called from server threads) -----------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _entered(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _left(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _authorised(self, request: RecordedRequest) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.access_token}"

    def _answer(self, request: RecordedRequest) -> _Answer:
        if not self._authorised(request):
            return _json_answer(
                401,
                meta_error_body(
                    190,
                    "Invalid OAuth access token - Cannot parse access token",
                    error_data=None,
                ),
            )
        messages = MESSAGES_PATH.match(request.path)
        templates = TEMPLATES_PATH.match(request.path)
        if messages and request.method == "POST":
            return self._send_message(request)
        if templates and request.method == "GET":
            return self._list_templates(request)
        if templates and request.method == "POST":
            return self._create_template(request)
        return _json_answer(
            400,
            meta_error_body(100, f"Unsupported {request.method.lower()} request.", error_data=None),
        )

    def _send_message(self, request: RecordedRequest) -> _Answer:
        body = request.body
        if not isinstance(body, dict):
            return _invalid("The request body must be a JSON object.")
        if body.get("messaging_product") != "whatsapp":
            return _invalid("The parameter messaging_product is required.")
        to = body.get("to")
        if not isinstance(to, str) or not to.strip():
            return _invalid("The parameter to is required.")
        if body.get("type") == "template":
            problem = self._check_template(body.get("template"))
            if problem is not None:
                return problem
        elif body.get("type") == "text":
            text = body.get("text")
            if not isinstance(text, dict) or not isinstance(text.get("body"), str):
                return _invalid("The parameter text['body'] is required.")
        wamid = f"wamid.STANDIN{next(self._wamid_counter):012d}"
        with self._lock:
            self._accepted.append({**body, "_wamid": wamid})
        message: dict[str, Any] = {"id": wamid}
        if body.get("type") == "template":
            message["message_status"] = "accepted"
        digits = "".join(character for character in to if character.isdigit())
        return _json_answer(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": digits}],
                "messages": [message],
            },
        )

    def _check_template(self, template: Any) -> _Answer | None:
        if not isinstance(template, dict) or not isinstance(template.get("name"), str):
            return _invalid("The parameter template['name'] is required.")
        language = template.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        if not isinstance(code, str):
            return _invalid("The parameter template['language'] is required.")
        counts: dict[str, int] = {"header": 0, "body": 0}
        for component in template.get("components") or []:
            for parameter in component.get("parameters") or []:
                if parameter.get("type") == "text" and not isinstance(parameter.get("text"), str):
                    return _invalid("Parameter of type text must be a string.")
                kind = parameter.get("type")
                if kind == "payload" and not isinstance(parameter.get("payload"), str):
                    return _invalid("Parameter of type payload must be a string.")
                section = str(component.get("type", "")).lower()
                if section in counts and kind == "text":
                    counts[section] += 1
        if not self.strict_templates:
            return None
        stored = self._find_template(template["name"], code)
        if stored is None or stored.get("status") != "APPROVED":
            return _json_answer(
                400,
                meta_error_body(
                    132001,
                    "(#132001) Template name does not exist in the translation",
                    details=f"template name ({template['name']}) does not exist in {code}",
                ),
            )
        for section in ("header", "body"):
            expected = _placeholder_count(stored, section)
            if counts[section] != expected:
                return _json_answer(
                    400,
                    meta_error_body(
                        132000,
                        "(#132000) Number of parameters does not match the expected number of "
                        "params",
                        details=f"{section}: number of localizable_params ({counts[section]}) "
                        f"does not match the expected number of params ({expected})",
                    ),
                )
        return None

    def _find_template(self, name: str, language: str) -> dict[str, Any] | None:
        with self._lock:
            for template in self._templates:
                if template["name"] == name and template["language"] == language:
                    return template
        return None

    def _list_templates(self, request: RecordedRequest) -> _Answer:
        limit = int((request.query.get("limit") or [self.default_page_size])[0])
        after = (request.query.get("after") or [None])[0]
        start = int(base64.urlsafe_b64decode(after.encode()).decode()) if after else 0
        with self._lock:
            page = [dict(template) for template in self._templates[start : start + limit]]
            total = len(self._templates)
        end = start + len(page)
        paging: dict[str, Any] = {
            "cursors": {"before": _cursor(start), "after": _cursor(max(end - 1, start))}
        }
        if end < total:
            paging["cursors"]["after"] = _cursor(end)
            query = {key: values[0] for key, values in request.query.items() if values}
            query.update({"limit": str(limit), "after": _cursor(end)})
            paging["next"] = f"{self.base_url}{request.path}?{urlencode(query)}"
        return _json_answer(200, {"data": page, "paging": paging})

    def _create_template(self, request: RecordedRequest) -> _Answer:
        body = request.body
        if not isinstance(body, dict):
            return _invalid("The request body must be a JSON object.")
        for required in ("name", "language", "category", "components"):
            if not body.get(required):
                return _json_answer(
                    400,
                    meta_error_body(
                        100,
                        "Invalid parameter",
                        error_data=None,
                        user_title="Missing parameter",
                        user_message=f"The parameter {required} is required.",
                        is_transient=False,
                    ),
                )
        if self._find_template(body["name"], body["language"]) is not None:
            return _json_answer(
                400,
                meta_error_body(
                    100,
                    "Invalid parameter",
                    subcode=2388024,
                    error_data=None,
                    user_title="Content in This Language Already Exists",
                    user_message=f"There is already {body['language']} content for this "
                    "template. You can create a new template and try again.",
                    is_transient=False,
                ),
            )
        stored = self.add_template(
            body["name"],
            body["language"],
            components=body["components"],
            status="PENDING",
            category=str(body["category"]).upper(),
            parameter_format=str(body.get("parameter_format") or "POSITIONAL").upper(),
        )
        return _json_answer(
            200, {"id": stored["id"], "status": "PENDING", "category": stored["category"]}
        )


def _placeholder_count(template: dict[str, Any], section: str) -> int:
    for component in template.get("components") or []:
        if str(component.get("type", "")).lower() == section:
            if section == "header" and str(component.get("format", "TEXT")).upper() != "TEXT":
                return 0
            return len(dict.fromkeys(PLACEHOLDER.findall(str(component.get("text") or ""))))
    return 0


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode()


def _json_answer(status: int, body: Any) -> _Answer:
    return _Answer(status, json.dumps(body).encode())


def _invalid(details: str) -> _Answer:
    return _json_answer(400, meta_error_body(100, "(#100) Invalid parameter", details=details))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 5

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        stand_in: MetaAPIStandIn = self.server.stand_in  # type: ignore[attr-defined]
        stand_in._entered()
        try:
            self._serve(stand_in)
        finally:
            stand_in._left()

    def _serve(self, stand_in: MetaAPIStandIn) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        url = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers={key.lower(): value for key, value in self.headers.items()},
            raw=raw,
            body=body,
        )
        stand_in._record(request)
        if stand_in.latency_seconds:
            time.sleep(stand_in.latency_seconds)
        script = stand_in._take_script(request.endpoint)
        if script is not None and script.kind == "drop":
            self.close_connection = True
            return
        if script is not None and script.kind == "respond":
            answer = _Answer(script.status, script.body, script.content_type)
        else:
            answer = stand_in._answer(request)
            if script is not None and script.kind == "delay":
                time.sleep(script.delay_seconds)
        self._write(answer)

    def _write(self, answer: _Answer) -> None:
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            # The client gave up (e.g. its read timeout fired); nothing left to tell it.
            self.close_connection = True


@pytest.fixture
def meta_api() -> Iterator[MetaAPIStandIn]:
    """A running stand-in expecting the token "test-access-token"; stopped after the test."""
    with MetaAPIStandIn() as stand_in:
        yield stand_in
