"""Who may read `/metrics`: a bearer token and/or a list of client networks, from the environment.

* `TIDINGS_METRICS_TOKEN` set: the request must carry ``Authorization: Bearer <token>``
  (missing: 401, wrong: 403), compared in constant time.
* `TIDINGS_METRICS_ALLOWED_IPS` set: the client address (`REMOTE_ADDR`, the direct peer: behind
  a proxy that is the proxy, so use the token there) must be in one of the networks (403).
* Both set: both must pass. Neither set: metrics are off and every request gets 403, so that
  nothing about the system is published by default.
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


def _client_allowed(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped:
        client = client.ipv4_mapped
    return any(client in network for network in networks)


def _refused(status: int, text: str, **headers: str) -> HttpResponse:
    response = HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    for name, value in headers.items():
        response[name] = value
    return response


def metrics_access_refusal(request: HttpRequest) -> HttpResponse | None:
    """The response refusing this request, or None when it may read the metrics."""
    token = settings.TIDINGS_METRICS_TOKEN
    networks = _networks(tuple(settings.TIDINGS_METRICS_ALLOWED_IPS))
    if not token and not networks:
        return _refused(
            403, "Metrics are off: set TIDINGS_METRICS_TOKEN or TIDINGS_METRICS_ALLOWED_IPS."
        )
    if networks and not _client_allowed(request.META.get("REMOTE_ADDR", ""), networks):
        return _refused(403, "This address may not read the metrics.")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return _refused(
                401, "A bearer token is required.", **{"WWW-Authenticate": 'Bearer realm="metrics"'}
            )
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            return _refused(403, "Wrong bearer token.")
    return None
