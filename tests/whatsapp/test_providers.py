from __future__ import annotations

import os
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.whatsapp.helpers import ACCESS_TOKEN, PHONE_NUMBER_ID
from whatsapp import get_provider, reset_provider
from whatsapp.base import SendAccepted, WhatsAppProvider
from whatsapp.cloud_api import CloudAPIProvider
from whatsapp.providers import SettingsAccessToken, build_provider
from whatsapp.sandbox import SandboxProvider


class RecordingProvider(WhatsAppProvider):
    """A custom provider, as a project could plug in with a dotted path."""

    def send_template(self, phone_number_id, message):
        raise NotImplementedError

    def send_text(self, phone_number_id, to, body, *, preview_url=False,
                  biz_opaque_callback_data=None, last_inbound_at=None):  # fmt: skip
        raise NotImplementedError

    def list_templates(self, waba_id):
        return iter(())

    def create_template(self, waba_id, *, name, language, category, components,
                        parameter_format=None):  # fmt: skip
        raise NotImplementedError


@pytest.fixture(autouse=True)
def _fresh_provider():
    reset_provider()
    yield
    reset_provider()


def test_sandbox_is_built_from_settings(settings, tmp_path):
    # given
    settings.WHATSAPP_PROVIDER = "sandbox"
    settings.WHATSAPP_SANDBOX_STATE_DIR = str(tmp_path / "state")
    settings.WHATSAPP_SANDBOX_WEBHOOK_URL = "http://127.0.0.1:9/webhooks/whatsapp/"
    settings.WHATSAPP_SANDBOX_STATUS_DELAY_SECONDS = 0.5
    settings.WHATSAPP_SANDBOX_READ_RATE = 0.25
    settings.WHATSAPP_SANDBOX_FAILURE_RATE = 0.1
    settings.WHATSAPP_SANDBOX_TEMPLATE_APPROVAL_SECONDS = 3
    settings.WHATSAPP_APP_SECRET = "secret-for-sandbox"

    # when
    provider = get_provider()

    # then
    assert isinstance(provider, SandboxProvider)
    assert provider.store.state_dir == tmp_path / "state"
    assert provider.deliverer.target == "http://127.0.0.1:9/webhooks/whatsapp/"
    assert provider.deliverer.app_secret == "secret-for-sandbox"
    assert (provider.status_delay_seconds, provider.read_rate, provider.failure_rate) == (
        0.5,
        0.25,
        0.1,
    )
    assert provider.template_approval_seconds == 3


def test_cloud_is_built_from_settings(settings):
    # given
    settings.WHATSAPP_PROVIDER = "cloud"
    settings.WHATSAPP_API_BASE_URL = "http://127.0.0.1:9"
    settings.WHATSAPP_API_VERSION = "v25.0"
    settings.WHATSAPP_HTTP_CONCURRENCY = 32
    settings.WHATSAPP_HTTP_CONNECT_TIMEOUT = 1.5
    settings.WHATSAPP_HTTP_READ_TIMEOUT = 7

    # when
    provider = get_provider()

    # then
    assert isinstance(provider, CloudAPIProvider)
    assert provider.url("123", "messages") == "http://127.0.0.1:9/v25.0/123/messages"
    assert provider.default_concurrency == 32
    assert provider.timeout == (1.5, 7.0)
    adapter = provider.session.get_adapter("http://127.0.0.1:9/")
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 32


def test_missing_settings_fall_back_to_defaults(settings):
    # given
    settings.WHATSAPP_PROVIDER = "cloud"
    for name in (
        "WHATSAPP_API_BASE_URL",
        "WHATSAPP_API_VERSION",
        "WHATSAPP_HTTP_CONCURRENCY",
        "WHATSAPP_HTTP_CONNECT_TIMEOUT",
        "WHATSAPP_HTTP_READ_TIMEOUT",
    ):
        if hasattr(settings, name):
            delattr(settings, name)

    # when
    provider = get_provider()

    # then
    assert provider.url("1", "messages") == "https://graph.facebook.com/v23.0/1/messages"
    assert provider.default_concurrency == 64
    assert provider.timeout == (3.05, 15.0)


def test_provider_is_cached_per_process_and_reset(settings):
    # given
    settings.WHATSAPP_PROVIDER = "sandbox"
    seen = []

    # when
    threads = [threading.Thread(target=lambda: seen.append(get_provider())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reset_provider()

    # then
    assert len({id(provider) for provider in seen}) == 1
    assert get_provider() is not seen[0]


def test_dotted_path_selects_a_custom_provider(settings):
    settings.WHATSAPP_PROVIDER = f"{__name__}.RecordingProvider"

    assert isinstance(get_provider(), RecordingProvider)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("carrier-pigeon", "WHATSAPP_PROVIDER must be 'sandbox', 'cloud' or a dotted path"),
        ("whatsapp.nowhere.Provider", "WHATSAPP_PROVIDER='whatsapp.nowhere.Provider' could not"),
        ("whatsapp.base.TemplateMessage", "is not a WhatsAppProvider subclass"),
    ],
)
def test_bad_provider_setting_is_improperly_configured(settings, value, message):
    settings.WHATSAPP_PROVIDER = value

    with pytest.raises(ImproperlyConfigured, match=message):
        build_provider()


def test_token_follows_the_settings(settings):
    # given
    settings.WHATSAPP_ACCESS_TOKEN = ACCESS_TOKEN
    token = SettingsAccessToken()
    assert token() == ACCESS_TOKEN

    # when
    settings.WHATSAPP_ACCESS_TOKEN = "rotated"

    # then
    assert token() == "rotated"


def test_token_file_is_reread_when_it_changes(settings, tmp_path):
    # given
    path = tmp_path / "token"
    path.write_text("first-token\n")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    settings.WHATSAPP_ACCESS_TOKEN_FILE = str(path)
    token = SettingsAccessToken()
    assert token() == "first-token"

    # when
    path.write_text("second-token\n")
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))

    # then
    assert token() == "second-token"


def test_cloud_provider_sends_with_the_token_file_and_follows_its_rotation(
    settings, tmp_path, meta_api
):
    # given: the token lives in a file, as a mounted secret would
    path = tmp_path / "whatsapp-token"
    path.write_text("token-before-rotation\n")
    settings.WHATSAPP_PROVIDER = "cloud"
    settings.WHATSAPP_API_BASE_URL = meta_api.base_url
    settings.WHATSAPP_ACCESS_TOKEN = "token-from-the-environment"
    settings.WHATSAPP_ACCESS_TOKEN_FILE = str(path)
    meta_api.strict_templates = False
    meta_api.access_token = "token-before-rotation"
    provider = get_provider()
    assert isinstance(provider.send_text(PHONE_NUMBER_ID, "+16505551234", "Hi"), SendAccepted)

    # when: the file is rewritten with a new token (same size, so only the mtime differs)
    path.write_text("token-after--rotation\n")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    meta_api.access_token = "token-after--rotation"
    outcome = provider.send_text(PHONE_NUMBER_ID, "+16505551234", "Hi again")

    # then: the same provider, no restart, sends with the new token
    assert isinstance(outcome, SendAccepted)
    assert get_provider() is provider
    assert [request.headers["authorization"] for request in meta_api.requests] == [
        "Bearer token-before-rotation",
        "Bearer token-after--rotation",
    ]


def test_token_file_replaced_by_another_file_is_read_again(settings, tmp_path):
    # given: a mounted secret is rotated by pointing its name at a new file
    first, second, link = tmp_path / "a", tmp_path / "b", tmp_path / "token"
    first.write_text("first-token")
    second.write_text("other-token")
    os.utime(second, ns=(first.stat().st_mtime_ns,) * 2)
    link.symlink_to(first)
    settings.WHATSAPP_ACCESS_TOKEN_FILE = str(link)
    token = SettingsAccessToken()
    assert token() == "first-token"

    # when: same size, same mtime, only the target differs
    link.unlink()
    link.symlink_to(second)

    # then
    assert token() == "other-token"


def test_unreadable_token_file_gives_no_token(settings, tmp_path):
    settings.WHATSAPP_ACCESS_TOKEN = ACCESS_TOKEN
    settings.WHATSAPP_ACCESS_TOKEN_FILE = str(tmp_path / "missing")

    assert SettingsAccessToken()() == ""
