"""One signed POST of an event to a subscriber, through a pooled `requests` session.

Explicit connect and read timeouts (`TIDINGS_SUBSCRIPTION_CONNECT_TIMEOUT`, `_READ_TIMEOUT`), no
redirects followed (a redirect could lead anywhere, including where the URL check refuses to
go), no proxies from the environment, and at most 64 KiB of the answer read: only its first
characters are kept, for the delivery log.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from .signing import SIGNATURE_HEADER, signature_header
from .validation import TargetRefused, check_target_url

USER_AGENT = "Tidings-Webhooks/1.0"
EXCERPT_CHARS = 500
_MAX_READ_BYTES = 64 * 1024
_POOL_SIZE = 16

_session: requests.Session | None = None
_session_lock = threading.Lock()


def session() -> requests.Session:
    """The process's session for outbound events (connections kept alive per receiver host)."""
    global _session
    with _session_lock:
        if _session is None:
            pooled = requests.Session()
            pooled.trust_env = False
            adapter = HTTPAdapter(pool_connections=_POOL_SIZE, pool_maxsize=_POOL_SIZE)
            pooled.mount("http://", adapter)
            pooled.mount("https://", adapter)
            pooled.headers["User-Agent"] = USER_AGENT
            _session = pooled
        return _session


def reset_session() -> None:
    global _session
    with _session_lock:
        if _session is not None:
            _session.close()
        _session = None


@dataclass(frozen=True)
class PostResult:
    succeeded: bool
    duration_ms: int
    status_code: int | None = None
    error: str = ""
    response_excerpt: str = ""


def event_body(envelope: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON with sorted keys, UTF-8."""
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def post_event(
    *,
    url: str,
    body: bytes,
    secrets: list[str],
    event_id: str,
    event_type: str,
    attempt: int,
) -> PostResult:
    """POST `body` signed with `secrets`; success is any 2xx answer."""
    started = time.monotonic()
    try:
        check_target_url(url)
    except TargetRefused as refused:
        return PostResult(succeeded=False, duration_ms=0, error=f"Refused: {refused.message}")
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(body, secrets),
        "X-Tidings-Event-Id": event_id,
        "X-Tidings-Event-Type": event_type,
        "X-Tidings-Delivery-Attempt": str(attempt),
    }
    timeout = (
        settings.TIDINGS_SUBSCRIPTION_CONNECT_TIMEOUT,
        settings.TIDINGS_SUBSCRIPTION_READ_TIMEOUT,
    )
    try:
        with session().post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
        ) as response:
            excerpt = _excerpt(response)
            status = response.status_code
    except requests.Timeout:
        return _failure(started, "Timed out")
    except requests.ConnectionError as error:
        return _failure(started, f"Connection failed: {_reason(error)}")
    except requests.RequestException as error:
        return _failure(started, f"Request failed: {type(error).__name__}")
    elapsed = _ms(started)
    if 200 <= status < 300:
        return PostResult(
            succeeded=True, duration_ms=elapsed, status_code=status, response_excerpt=excerpt
        )
    error = f"HTTP {status}"
    if 300 <= status < 400:
        error += " (redirects are not followed; use the final URL)"
    return PostResult(
        succeeded=False,
        duration_ms=elapsed,
        status_code=status,
        error=error,
        response_excerpt=excerpt,
    )


def _excerpt(response: requests.Response) -> str:
    try:
        raw = response.raw.read(_MAX_READ_BYTES, decode_content=True) or b""
    except Exception:  # a receiver hanging up mid-answer; the status already tells the outcome
        return ""
    return raw.decode(response.encoding or "utf-8", errors="replace")[:EXCERPT_CHARS]


def _failure(started: float, error: str) -> PostResult:
    return PostResult(succeeded=False, duration_ms=_ms(started), error=error[:500])


def _ms(started: float) -> int:
    return max(0, int((time.monotonic() - started) * 1000))


def _reason(error: Exception) -> str:
    text = str(error.args[0] if error.args else error)
    # urllib3 wraps the cause as "...: Failed to establish a new connection: [Errno 111] ...".
    marker = "Failed to establish a new connection: "
    if marker in text:
        text = text.split(marker, 1)[1].rstrip("')\"")
    return text[:300]
