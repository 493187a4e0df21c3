"""The real provider: Meta's WhatsApp Cloud API over HTTPS. The only module that imports requests.

Connection handling, by design:
* one `requests.Session` per provider, with an HTTPAdapter whose pool holds as many connections
  as sends are allowed in flight (the default pool of 10 would serialise a 64-thread batch);
* `max_retries=0`: the HTTP layer never resends anything. A POST to /messages has no idempotency
  key, so a transport-level retry could deliver a message twice; retries belong to the ledger;
* explicit (connect, read) timeouts on every call;
* the bearer token is read through a callable on every request, so a rotated token is picked up
  without a restart (the provider factory reads it from settings or a token file each time);
* paced campaign sends (`submit_template`) go through `cloud_api_async`, one aiohttp session on
  one event loop per process, which keeps hundreds of requests in flight where threads cannot.

Failures become ProviderError through `errors.build_error`: connect-phase failures (refused, DNS,
TLS, connect timeout) are retryable and not ambiguous because Meta never saw the request; read
timeouts, dropped connections, unreadable answers and 5xx are retryable *and ambiguous* because
the message may already be on its way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.exceptions import SSLError as Urllib3SSLError

from whatsapp import errors, payloads
from whatsapp.base import (
    CreatedTemplate,
    ParameterFormat,
    ProviderError,
    RemoteTemplate,
    SendOutcome,
    TemplateMessage,
    WhatsAppProvider,
)
from whatsapp.cloud_api_async import AsyncSender
from whatsapp.errors import TransportFailure
from whatsapp.responses import parse_error_response, parse_send_response, remote_template

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v23.0"
TEMPLATE_FIELDS = (
    "id,name,language,status,category,parameter_format,components,quality_score,rejected_reason"
)

TokenSource = str | Callable[[], str]


@dataclass(frozen=True)
class _Answer:
    """An HTTP answer that arrived in full: status, parsed JSON (or None) and the raw text."""

    status: int
    data: Any
    text: str


class CloudAPIProvider(WhatsAppProvider):
    """Sends through `{base_url}/{api_version}/...` with a pooled, non-retrying session.

    Construct it with explicit values (tests do, against a loopback stand-in); in the app,
    `whatsapp.get_provider()` builds it from settings. `access_token` may be a string or a
    zero-argument callable returning the current token; the callable is called on every request.
    """

    def __init__(
        self,
        *,
        access_token: TokenSource,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        concurrency: int = 64,
        connect_timeout: float = 3.05,
        read_timeout: float = 15.0,
        template_page_size: int = 100,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._token_source: Callable[[], str] = (
            access_token if callable(access_token) else (lambda: access_token)
        )
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version.strip("/")
        self.default_concurrency = concurrency
        self.timeout = (connect_timeout, read_timeout)
        self.template_page_size = template_page_size
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=concurrency, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = "tidings-whatsapp"
        self._async: AsyncSender | None = None
        self._async_lock = threading.Lock()

    # --- URLs and transport -------------------------------------------------------------

    def url(self, node_id: str, edge: str) -> str:
        """`{base_url}/{api_version}/{node_id}/{edge}`; the version segment is optional."""
        version = f"/{self.api_version}" if self.api_version else ""
        return f"{self.base_url}{version}/{node_id}/{edge}"

    def _call(
        self,
        method: str,
        url: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> _Answer | ProviderError:
        token = (self._token_source() or "").strip()
        if not token:
            return errors.build_error(
                message="no WhatsApp access token is configured",
                transport_failure=TransportFailure.CONFIGURATION,
            )
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                json=json_body,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as exc:
            failure = _transport_failure(exc)
            logger.warning(
                "%s %s failed after %.3fs (%s): %s",
                method,
                _path(url),
                time.monotonic() - started,
                failure.value,
                exc,
            )
            return errors.build_error(
                message=f"{type(exc).__name__}: {exc}", transport_failure=failure
            )
        logger.debug(
            "%s %s -> %s in %.3fs",
            method,
            _path(url),
            response.status_code,
            time.monotonic() - started,
        )
        return _Answer(response.status_code, _json_or_none(response), response.text)

    # --- Sending ------------------------------------------------------------------------

    def send_template(self, phone_number_id: str, message: TemplateMessage) -> SendOutcome:
        try:
            body = payloads.template_message_body(message)
        except payloads.PayloadError as exc:
            return errors.invalid_parameter(str(exc))
        return self._send(phone_number_id, body)

    def send_text(
        self,
        phone_number_id: str,
        to: str,
        body: str,
        *,
        preview_url: bool = False,
        biz_opaque_callback_data: str | None = None,
        last_inbound_at: datetime | None = None,
    ) -> SendOutcome:
        # `last_inbound_at` is not used: Meta keeps the authoritative window (our record of
        # inbound messages may miss some) and answers 131047 itself when it is closed.
        try:
            payload = payloads.text_message_body(
                to,
                body,
                preview_url=preview_url,
                biz_opaque_callback_data=biz_opaque_callback_data,
            )
        except payloads.PayloadError as exc:
            return errors.invalid_parameter(str(exc))
        return self._send(phone_number_id, payload)

    def send_template_batch(
        self,
        phone_number_id: str,
        messages: Sequence[TemplateMessage],
        concurrency: int | None = None,
    ) -> list[SendOutcome]:
        """As the base class, but never more requests in flight than pooled connections:
        extra connections would be opened and thrown away after each request."""
        limit = min(concurrency or self.default_concurrency, self.default_concurrency)
        return super().send_template_batch(phone_number_id, messages, limit)

    def submit_template(
        self,
        phone_number_id: str,
        message: TemplateMessage,
        *,
        not_before: float,
        cancelled: threading.Event,
    ) -> Future[SendOutcome | None]:
        """Paced sends go through one event loop per process (see `cloud_api_async`)."""
        try:
            body = payloads.template_message_body(message)
        except payloads.PayloadError as exc:
            done: Future[SendOutcome | None] = Future()
            done.set_result(errors.invalid_parameter(str(exc)))
            return done
        return self._async_sender().submit(
            self.url(phone_number_id, "messages"),
            body,
            not_before=not_before,
            cancelled=cancelled,
        )

    def submit_templates(
        self,
        phone_number_id: str,
        scheduled: Sequence[tuple[TemplateMessage, float]],
        *,
        cancelled: threading.Event,
    ) -> list[Future[SendOutcome | None]]:
        url = self.url(phone_number_id, "messages")
        requests_: list[tuple[str, dict[str, Any], float]] = []
        refused: dict[int, ProviderError] = {}
        for index, (message, not_before) in enumerate(scheduled):
            try:
                requests_.append((url, payloads.template_message_body(message), not_before))
            except payloads.PayloadError as exc:
                refused[index] = errors.invalid_parameter(str(exc))
        sent = iter(self._async_sender().submit_many(requests_, cancelled=cancelled))
        futures: list[Future[SendOutcome | None]] = []
        for index in range(len(scheduled)):
            if index in refused:
                done: Future[SendOutcome | None] = Future()
                done.set_result(refused[index])
                futures.append(done)
            else:
                futures.append(next(sent))
        return futures

    def _async_sender(self) -> AsyncSender:
        with self._async_lock:
            if self._async is None:
                self._async = AsyncSender(
                    concurrency=self.default_concurrency,
                    connect_timeout=self.timeout[0],
                    read_timeout=self.timeout[1],
                    token_source=self._token_source,
                )
            return self._async

    def _send(self, phone_number_id: str, body: dict[str, Any]) -> SendOutcome:
        answer = self._call("POST", self.url(phone_number_id, "messages"), json_body=body)
        if isinstance(answer, ProviderError):
            return answer
        return parse_send_response(answer.status, answer.data, answer.text)

    # --- Templates ----------------------------------------------------------------------

    def list_templates(self, waba_id: str) -> Iterator[RemoteTemplate]:
        """Every template, page by page. Follows `paging.next` while it points at our own API
        host (the bearer token is never sent elsewhere); otherwise uses `paging.cursors.after`.
        Meta leaves `next` out on the last page."""
        first_url = self.url(waba_id, "message_templates")
        url: str | None = first_url
        params: dict[str, str] | None = {
            "fields": TEMPLATE_FIELDS,
            "limit": str(self.template_page_size),
        }
        requested: set[str] = set()
        while url is not None:
            page_key = f"{url}?{sorted((params or {}).items())}"
            if page_key in requested:
                logger.warning("template paging for %s repeated a page; stopping", waba_id)
                return
            requested.add(page_key)
            answer = self._call("GET", url, params=params)
            if isinstance(answer, ProviderError):
                raise answer
            if not (200 <= answer.status < 300) or not isinstance(answer.data, dict):
                raise parse_error_response(answer.status, answer.data, answer.text)
            if "error" in answer.data:
                raise parse_error_response(answer.status, answer.data, answer.text)
            items = answer.data.get("data") or []
            for item in items:
                if isinstance(item, dict):
                    yield remote_template(item)
            if not items:
                return
            url, params = self._next_page(answer.data.get("paging"), first_url)

    def _next_page(self, paging: Any, first_url: str) -> tuple[str | None, dict[str, str] | None]:
        if not isinstance(paging, dict) or not paging.get("next"):
            return None, None
        next_url = _without_access_token(str(paging["next"]))
        if _same_origin(next_url, self.base_url):
            return next_url, None
        cursors = paging.get("cursors")
        after = cursors.get("after") if isinstance(cursors, dict) else None
        if not after:
            return None, None
        return first_url, {
            "fields": TEMPLATE_FIELDS,
            "limit": str(self.template_page_size),
            "after": str(after),
        }

    def create_template(
        self,
        waba_id: str,
        *,
        name: str,
        language: str,
        category: str,
        components: list[dict[str, Any]],
        parameter_format: ParameterFormat | str | None = None,
    ) -> CreatedTemplate:
        body = payloads.template_create_body(
            name=name,
            language=language,
            category=category,
            components=components,
            parameter_format=parameter_format,
        )
        answer = self._call("POST", self.url(waba_id, "message_templates"), json_body=body)
        if isinstance(answer, ProviderError):
            raise answer
        data = answer.data
        if 200 <= answer.status < 300 and isinstance(data, dict) and data.get("id"):
            return CreatedTemplate(
                id=str(data["id"]),
                status=str(data.get("status") or "PENDING").upper(),
                category=str(data.get("category") or category).upper(),
            )
        raise parse_error_response(answer.status, data, answer.text)

    def close(self) -> None:
        self.session.close()
        if self._async is not None:
            self._async.close()


# --- Helpers --------------------------------------------------------------------------------

_CONNECT_PHASE_ERRORS = (
    NewConnectionError,
    ConnectTimeoutError,
    Urllib3SSLError,
    Urllib3ProxyError,
)


def _transport_failure(exc: requests.exceptions.RequestException) -> TransportFailure:
    """Did the request possibly reach Meta? Only connect-phase failures prove it did not."""
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema
        | requests.exceptions.InvalidHeader
        | requests.exceptions.URLRequired,
    ):
        return TransportFailure.CONFIGURATION
    if isinstance(
        exc,
        requests.exceptions.ConnectTimeout
        | requests.exceptions.SSLError
        | requests.exceptions.ProxyError,
    ):
        return TransportFailure.CONNECT
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TransportFailure.AFTER_SEND
    if isinstance(exc, requests.exceptions.ConnectionError):
        cause = exc.args[0] if exc.args else None
        if isinstance(cause, MaxRetryError) and isinstance(cause.reason, _CONNECT_PHASE_ERRORS):
            return TransportFailure.CONNECT
    # Dropped connections (RemoteDisconnected), broken chunked bodies, timeouts mid-body...
    return TransportFailure.AFTER_SEND


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _same_origin(url: str, base_url: str) -> bool:
    candidate, base = urlsplit(url), urlsplit(base_url)
    return (candidate.scheme, candidate.netloc) == (base.scheme, base.netloc)


def _without_access_token(url: str) -> str:
    # Graph's `next` links can embed the token as a query parameter; we send it as a header, and
    # a URL without it cannot leak the token into logs or error messages.
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "access_token"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _path(url: str) -> str:
    return urlsplit(url).path
