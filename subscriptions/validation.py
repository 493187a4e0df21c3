"""Which target URLs a subscription may have.

Tidings POSTs to whatever URL a subscription names, from inside the network it runs in, so a URL
pointing at the loopback interface, a private network or a cloud metadata address would let
anyone who can create a subscription probe internal services (SSRF). Unless
`TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS` is on (development and tests), the host must resolve
only to public addresses. The check runs when the subscription is saved and again before every
attempt, since a name can be re-pointed after it was accepted; redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

ALLOWED_SCHEMES = ("http", "https")
MAX_URL_LENGTH = 2000


class TargetRefused(Exception):
    """The URL may not be a target; the message says why, for the person who entered it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def private_targets_allowed() -> bool:
    return bool(settings.TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS)


def check_target_url(url: str) -> None:
    """Raise TargetRefused unless `url` is an http(s) URL Tidings may POST to."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise TargetRefused("This is not a valid URL.") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise TargetRefused("The URL must start with http:// or https://.")
    if not parts.hostname:
        raise TargetRefused("The URL must name a host.")
    if parts.username or parts.password:
        raise TargetRefused(
            "Credentials in the URL would be stored in the database; remove them and verify "
            "the X-Tidings-Signature header instead."
        )
    if private_targets_allowed():
        return
    for address in _addresses(parts.hostname, port or (443 if parts.scheme == "https" else 80)):
        if not _public(address):
            raise TargetRefused(
                f"{parts.hostname} resolves to {address}, a loopback, private or reserved "
                "address; only public addresses can receive events."
            )


def _addresses(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        raise TargetRefused(f"The host {host} cannot be resolved.") from None
    return sorted({info[4][0] for info in infos})


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
