"""The provider factory: the only place the integration package reads Django settings.

`WHATSAPP_PROVIDER` picks the implementation, like Django's EMAIL_BACKEND: `"sandbox"` (the
default: nothing leaves the machine), `"cloud"` (Meta's Cloud API), or a dotted path to a
`WhatsAppProvider` subclass that takes no constructor arguments. Settings are read when the
provider is first built, never at import time, and missing ones fall back to the defaults below.

One provider is cached per process (thread-safe). After a fork (Celery's prefork pool) the child
builds its own, because pooled sockets and background threads must not be shared across processes.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from whatsapp.base import WhatsAppProvider

DEFAULTS: dict[str, Any] = {
    "WHATSAPP_PROVIDER": "sandbox",
    "WHATSAPP_API_BASE_URL": "https://graph.facebook.com",
    "WHATSAPP_API_VERSION": "v23.0",
    "WHATSAPP_ACCESS_TOKEN": "",
    "WHATSAPP_ACCESS_TOKEN_FILE": "",
    "WHATSAPP_APP_SECRET": "",
    "WHATSAPP_HTTP_CONCURRENCY": 64,
    "WHATSAPP_HTTP_CONNECT_TIMEOUT": 3.05,
    "WHATSAPP_HTTP_READ_TIMEOUT": 15.0,
    "WHATSAPP_SANDBOX_WEBHOOK_URL": "http://127.0.0.1:8000/webhooks/whatsapp/",
    "WHATSAPP_SANDBOX_STATUS_DELAY_SECONDS": 2.0,
    "WHATSAPP_SANDBOX_READ_RATE": 0.6,
    "WHATSAPP_SANDBOX_FAILURE_RATE": 0.05,
    "WHATSAPP_SANDBOX_STATE_DIR": "var/sandbox",
    "WHATSAPP_SANDBOX_TEMPLATE_APPROVAL_SECONDS": 10.0,
    "WHATSAPP_SANDBOX_SEED": None,
    "WHATSAPP_SANDBOX_WABA_ID": "100000000000001",
}

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_cached: tuple[int, WhatsAppProvider] | None = None


def setting(name: str) -> Any:
    """`settings.<name>`, or its default from DEFAULTS when the project does not define it."""
    from django.conf import settings

    return getattr(settings, name, DEFAULTS[name])


class SettingsAccessToken:
    """The current access token, looked up on every call so rotation needs no restart.

    * With `WHATSAPP_ACCESS_TOKEN_FILE` set, the token is that file's content, re-read whenever
      the file changes (rotate by rewriting or replacing the file, e.g. a mounted secret whose
      symlink is swapped); a file that cannot be read gives no token, so nothing is sent;
    * otherwise it is `settings.WHATSAPP_ACCESS_TOKEN` as it is at that moment (which also lets
      tests and `override_settings` swap it).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file_cache: tuple[tuple[str, int, int, int], str] | None = None

    def __call__(self) -> str:
        path = setting("WHATSAPP_ACCESS_TOKEN_FILE")
        if path:
            return self._from_file(str(path))
        return str(setting("WHATSAPP_ACCESS_TOKEN") or "")

    def _from_file(self, path: str) -> str:
        # A rewrite changes the modification time (and usually the size); a replacement (rename,
        # symlink swap) changes the inode. Any of them means: read the file again.
        try:
            status = os.stat(path)
        except OSError:
            return ""
        version = (path, status.st_ino, status.st_size, status.st_mtime_ns)
        with self._lock:
            cached = self._file_cache
            if cached is not None and cached[0] == version:
                return cached[1]
            try:
                token = Path(path).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                logger.warning("WhatsApp access token file %s cannot be read", path)
                return ""
            self._file_cache = (version, token)
            return token


def build_provider(name: str | None = None) -> WhatsAppProvider:
    """A new provider for `name` (default: the WHATSAPP_PROVIDER setting). Not cached."""
    from django.core.exceptions import ImproperlyConfigured

    choice = str(name if name is not None else setting("WHATSAPP_PROVIDER")).strip()
    if choice == "sandbox":
        return _build_sandbox()
    if choice == "cloud":
        return _build_cloud()
    if "." in choice:
        return _build_custom(choice)
    raise ImproperlyConfigured(
        f"WHATSAPP_PROVIDER must be 'sandbox', 'cloud' or a dotted path to a WhatsAppProvider "
        f"subclass, not {choice!r}"
    )


def _build_cloud() -> WhatsAppProvider:
    from whatsapp.cloud_api import CloudAPIProvider

    return CloudAPIProvider(
        access_token=SettingsAccessToken(),
        base_url=str(setting("WHATSAPP_API_BASE_URL")),
        api_version=str(setting("WHATSAPP_API_VERSION")),
        concurrency=int(setting("WHATSAPP_HTTP_CONCURRENCY")),
        connect_timeout=float(setting("WHATSAPP_HTTP_CONNECT_TIMEOUT")),
        read_timeout=float(setting("WHATSAPP_HTTP_READ_TIMEOUT")),
    )


def _build_sandbox() -> WhatsAppProvider:
    from whatsapp.sandbox import SandboxProvider

    seed = setting("WHATSAPP_SANDBOX_SEED")
    return SandboxProvider(
        state_dir=str(setting("WHATSAPP_SANDBOX_STATE_DIR")),
        webhook_target=str(setting("WHATSAPP_SANDBOX_WEBHOOK_URL") or "") or None,
        app_secret=str(setting("WHATSAPP_APP_SECRET") or ""),
        status_delay_seconds=float(setting("WHATSAPP_SANDBOX_STATUS_DELAY_SECONDS")),
        read_rate=float(setting("WHATSAPP_SANDBOX_READ_RATE")),
        failure_rate=float(setting("WHATSAPP_SANDBOX_FAILURE_RATE")),
        template_approval_seconds=float(setting("WHATSAPP_SANDBOX_TEMPLATE_APPROVAL_SECONDS")),
        seed=None if seed in (None, "") else int(seed),
        waba_id=str(setting("WHATSAPP_SANDBOX_WABA_ID")),
    )


def _build_custom(dotted_path: str) -> WhatsAppProvider:
    from django.core.exceptions import ImproperlyConfigured
    from django.utils.module_loading import import_string

    try:
        provider_class = import_string(dotted_path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"WHATSAPP_PROVIDER={dotted_path!r} could not be imported: {exc}"
        ) from exc
    if not (isinstance(provider_class, type) and issubclass(provider_class, WhatsAppProvider)):
        raise ImproperlyConfigured(
            f"WHATSAPP_PROVIDER={dotted_path!r} is not a WhatsAppProvider subclass"
        )
    return provider_class()


def get_provider() -> WhatsAppProvider:
    """The process-wide provider, built from settings on first use."""
    global _cached
    pid = os.getpid()
    cached = _cached
    if cached is not None and cached[0] == pid:
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] != pid:
            # A provider inherited through fork is dropped, not closed: its sockets and threads
            # belong to the parent.
            _cached = (pid, build_provider())
        return _cached[1]


def reset_provider() -> None:
    """Forget (and close) the cached provider; the next get_provider() reads settings again."""
    global _cached
    with _lock:
        cached, _cached = _cached, None
    if cached is not None and cached[0] == os.getpid():
        cached[1].close()
