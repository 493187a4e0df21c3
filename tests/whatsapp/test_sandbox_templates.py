from __future__ import annotations

import json
import threading

import pytest

from tests.whatsapp.helpers import APP_SECRET, PHONE_NUMBER_ID, WABA_ID, WebhookSink
from whatsapp import signatures
from whatsapp.base import CreatedTemplate, ErrorClass, ProviderError, SendAccepted, TemplateMessage
from whatsapp.sandbox import SandboxProvider

BODY = [
    {"type": "BODY", "text": "Hi {{1}}, your table is ready.", "example": {"body_text": [["A"]]}}
]


def sandbox_at(state_dir, sink=None, approval_seconds=60.0) -> SandboxProvider:
    return SandboxProvider(
        state_dir=state_dir,
        webhook_target=sink,
        app_secret=APP_SECRET,
        status_delay_seconds=0.01,
        template_approval_seconds=approval_seconds,
    )


def create_table_ready(provider: SandboxProvider, name: str = "table_ready") -> CreatedTemplate:
    return provider.create_template(
        WABA_ID, name=name, language="en_US", category="utility", components=BODY
    )


def test_builtin_catalogue_is_listed_in_three_languages(tmp_path):
    # given
    sandbox = sandbox_at(tmp_path)

    # when
    templates = list(sandbox.list_templates(WABA_ID))

    # then
    by_key = {(template.name, template.language): template for template in templates}
    for name in ("order_update", "loyalty_offer", "welcome"):
        for language in ("en_US", "pt_BR", "es_ES"):
            assert by_key[(name, language)].status == "APPROVED"
    loyalty = by_key[("loyalty_offer", "pt_BR")]
    assert (loyalty.category, loyalty.parameter_format) == ("MARKETING", "NAMED")
    buttons = next(c for c in loyalty.components if c["type"] == "BUTTONS")["buttons"]
    assert [button["type"] for button in buttons] == ["URL", "QUICK_REPLY"]
    assert buttons[1]["text"] == "Parar promoções"
    assert by_key[("order_update", "en_US")].category == "UTILITY"
    sandbox.close()


def test_created_template_is_pending_and_shared_through_the_state_dir(tmp_path):
    # given
    web = sandbox_at(tmp_path / "state")
    worker = sandbox_at(tmp_path / "state")

    # when
    created = create_table_ready(web)

    # then
    assert created == CreatedTemplate(id=created.id, status="PENDING", category="UTILITY")
    [listed] = [t for t in worker.list_templates(WABA_ID) if t.name == "table_ready"]
    assert (listed.id, listed.status, listed.components) == (created.id, "PENDING", BODY)
    stored = json.loads((tmp_path / "state" / "templates.json").read_text())
    assert [template["name"] for template in stored["templates"]] == ["table_ready"]
    assert list(worker.list_templates("another-waba")) == list(
        sandbox_at(tmp_path / "empty").list_templates("another-waba")
    )
    web.close()
    worker.close()


def test_template_is_approved_after_the_delay_with_one_signed_webhook(tmp_path):
    # given
    web_sink, worker_sink = WebhookSink(), WebhookSink()
    web = sandbox_at(tmp_path / "state", web_sink, approval_seconds=0.05)
    worker = sandbox_at(tmp_path / "state", worker_sink, approval_seconds=0.05)

    # when
    created = create_table_ready(web)
    assert web.wait_for_webhooks(2.0) is True

    # then
    assert web_sink.template_updates == [
        {
            "event": "APPROVED",
            "message_template_id": int(created.id),
            "message_template_name": "table_ready",
            "message_template_language": "en_US",
            "reason": "NONE",
            "message_template_category": "UTILITY",
        }
    ]
    [(raw, headers)] = web_sink.deliveries
    assert signatures.verify(raw, headers["X-Hub-Signature-256"], APP_SECRET) is True
    assert json.loads(raw)["entry"][0]["id"] == WABA_ID
    [listed] = [t for t in worker.list_templates(WABA_ID) if t.name == "table_ready"]
    assert listed.status == "APPROVED"
    message = TemplateMessage(
        to="+5511999990000", template_name="table_ready", language_code="en_US",
        body_parameters=["Maria"],
    )  # fmt: skip
    assert isinstance(worker.send_template(PHONE_NUMBER_ID, message), SendAccepted)
    assert worker.wait_for_webhooks(2.0) is True
    assert worker_sink.template_updates == []
    web.close()
    worker.close()


def test_a_process_that_missed_the_timer_still_sees_the_approval(tmp_path):
    # given: the creating process goes away before its approval timer fires (a minute), and
    # another process looks after the review time has passed
    now = [1_700_000_000.0]
    web = SandboxProvider(
        state_dir=tmp_path / "state", template_approval_seconds=60, clock=lambda: now[0]
    )
    create_table_ready(web)
    web.close()
    now[0] += 61
    sink = WebhookSink()
    worker = SandboxProvider(
        state_dir=tmp_path / "state",
        webhook_target=sink,
        app_secret=APP_SECRET,
        clock=lambda: now[0],
    )

    # when
    [listed] = [t for t in worker.list_templates(WABA_ID) if t.name == "table_ready"]

    # then
    assert listed.status == "APPROVED"
    assert worker.wait_for_webhooks(2.0) is True
    assert [update["event"] for update in sink.template_updates] == ["APPROVED"]
    worker.close()


@pytest.mark.parametrize(
    ("name", "category", "components", "subcode", "user_title"),
    [
        ("Table Ready", "UTILITY", BODY, None, "Invalid template name"),
        ("table_ready", "PROMOTION", BODY, None, "Invalid category"),
        ("table_ready", "UTILITY", [{"type": "FOOTER", "text": "x"}], 2388072, "Body required"),
        (
            "table_ready",
            "UTILITY",
            [{"type": "BODY", "text": "{{1}} is ready"}],
            2388299,
            "Variables can't be at the start or end of the template",
        ),
        ("order_update", "UTILITY", BODY, 2388024, "Content in This Language Already Exists"),
    ],
    ids=["bad-name", "bad-category", "no-body", "dangling-variable", "duplicate-of-builtin"],
)
def test_invalid_creations_are_refused_with_readable_errors(
    tmp_path, name, category, components, subcode, user_title
):
    # given
    sandbox = sandbox_at(tmp_path)

    # when
    with pytest.raises(ProviderError) as caught:
        sandbox.create_template(
            WABA_ID, name=name, language="en_US", category=category, components=components
        )

    # then
    error = caught.value
    assert (error.code, error.subcode, error.user_title) == (100, subcode, user_title)
    assert error.user_message
    assert error.error_class is ErrorClass.PERMANENT
    assert sandbox.store.all() == []
    sandbox.close()


def test_duplicate_across_processes_is_refused(tmp_path):
    # given
    create_table_ready(sandbox_at(tmp_path / "state"))
    other = sandbox_at(tmp_path / "state")

    # when
    with pytest.raises(ProviderError) as caught:
        create_table_ready(other)

    # then
    assert caught.value.subcode == 2388024
    assert len(other.store.all()) == 1


def test_concurrent_creations_are_all_kept(tmp_path):
    # given
    providers = [sandbox_at(tmp_path / "state") for _ in range(4)]
    names = [f"table_ready_{index}" for index in range(12)]

    # when
    threads = [
        threading.Thread(target=create_table_ready, args=(providers[index % 4], name))
        for index, name in enumerate(names)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert sorted(template.name for template in providers[0].store.all()) == sorted(names)
    assert list((tmp_path / "state").glob(".templates-*")) == []
