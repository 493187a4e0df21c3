from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.whatsapp.helpers import APP_SECRET, PHONE_NUMBER_ID, WebhookSink
from whatsapp import signatures
from whatsapp.base import ButtonParameter, SendAccepted, TemplateMessage
from whatsapp.sandbox import SandboxProvider
from whatsapp.sandbox.provider import DEFAULT_DISPLAY_PHONE_NUMBER, DEFAULT_WABA_ID


def sandbox_with(tmp_path, target, **options) -> SandboxProvider:
    settings = {
        "state_dir": tmp_path / "sandbox",
        "webhook_target": target,
        "app_secret": APP_SECRET,
        "status_delay_seconds": 0.01,
        "read_rate": 1.0,
        "failure_rate": 0.0,
        "seed": 3,
        "delivery_retry_seconds": 0.01,
    }
    settings.update(options)
    return SandboxProvider(**settings)


def order_update(to: str = "+5511999990000", callback: str = "msg:1") -> TemplateMessage:
    return TemplateMessage(
        to=to,
        template_name="order_update",
        language_code="en_US",
        body_parameters=["Maria", "A-1042"],
        biz_opaque_callback_data=callback,
    )


def welcome(to: str = "+5511999990000") -> TemplateMessage:
    return TemplateMessage(
        to=to, template_name="welcome", language_code="en_US", body_parameters=["Maria"]
    )


def test_statuses_arrive_in_order_signed_and_complete(tmp_path):
    # given
    sink = WebhookSink()
    sandbox = sandbox_with(tmp_path, sink)

    # when
    accepted = sandbox.send_template(PHONE_NUMBER_ID, order_update())
    assert sandbox.wait_for_webhooks(2.0) is True

    # then
    assert [status["status"] for status in sink.statuses] == ["sent", "delivered", "read"]
    for raw, headers in sink.deliveries:
        assert headers["Content-Type"] == "application/json"
        assert signatures.verify(raw, headers["X-Hub-Signature-256"], APP_SECRET) is True
    first = sink.bodies[0]
    assert first["object"] == "whatsapp_business_account"
    assert first["entry"][0]["id"] == DEFAULT_WABA_ID
    assert first["entry"][0]["changes"][0]["field"] == "messages"
    assert first["entry"][0]["changes"][0]["value"]["metadata"] == {
        "display_phone_number": DEFAULT_DISPLAY_PHONE_NUMBER,
        "phone_number_id": PHONE_NUMBER_ID,
    }
    sent, delivered, read = sink.statuses
    assert {status["id"] for status in sink.statuses} == {accepted.wamid}
    assert {status["recipient_id"] for status in sink.statuses} == {"5511999990000"}
    assert {status["biz_opaque_callback_data"] for status in sink.statuses} == {"msg:1"}
    assert all(isinstance(status["timestamp"], str) for status in sink.statuses)
    assert sent["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "utility",
    }
    assert delivered["pricing"] == sent["pricing"]
    assert "pricing" not in read
    sandbox.close()


def test_read_rate_zero_stops_at_delivered(tmp_path):
    # given
    sink = WebhookSink()
    sandbox = sandbox_with(tmp_path, sink, read_rate=0.0)

    # when
    sandbox.send_template(PHONE_NUMBER_ID, order_update())
    assert sandbox.wait_for_webhooks(2.0) is True

    # then
    assert [status["status"] for status in sink.statuses] == ["sent", "delivered"]
    sandbox.close()


def test_failure_rate_produces_failed_statuses_with_real_codes(tmp_path):
    # given
    sink = WebhookSink()
    sandbox = sandbox_with(tmp_path, sink, failure_rate=1.0)

    # when
    outcomes = [sandbox.send_template(PHONE_NUMBER_ID, welcome()) for _ in range(12)]
    assert sandbox.wait_for_webhooks(2.0) is True

    # then: the send itself is accepted, the failure arrives later, like Meta's
    assert all(isinstance(outcome, SendAccepted) for outcome in outcomes)
    assert {status["status"] for status in sink.statuses} == {"failed"}
    assert len(sink.statuses) == 12
    codes = {status["errors"][0]["code"] for status in sink.statuses}
    assert codes <= {131026, 131049, 131050}
    assert len(codes) > 1
    for status in sink.statuses:
        [error] = status["errors"]
        assert error["title"] == error["message"]
        assert error["error_data"]["details"]
        assert "pricing" not in status
    sandbox.close()


def test_utility_failures_are_never_marketing_limits(tmp_path):
    # given
    sink = WebhookSink()
    sandbox = sandbox_with(tmp_path, sink, failure_rate=1.0)

    # when
    for _ in range(5):
        sandbox.send_template(PHONE_NUMBER_ID, order_update())
    assert sandbox.wait_for_webhooks(2.0) is True

    # then
    assert {status["errors"][0]["code"] for status in sink.statuses} == {131026}
    sandbox.close()


def summary(status: dict) -> tuple[str, str, int | None]:
    code = status["errors"][0]["code"] if "errors" in status else None
    return status["recipient_id"], status["status"], code


def test_same_seed_gives_the_same_story(tmp_path):
    # given
    stories = []
    for run in range(2):
        sink = WebhookSink()
        sandbox = sandbox_with(tmp_path / str(run), sink, failure_rate=0.3, read_rate=0.5, seed=11)

        # when
        for index in range(10):
            sandbox.send_template(PHONE_NUMBER_ID, welcome(to=f"+55119999900{index:02d}"))
        assert sandbox.wait_for_webhooks(2.0) is True
        stories.append(sorted(map(summary, sink.statuses)))
        sandbox.close()

    # then
    assert stories[0] == stories[1]


def test_text_message_statuses_are_free_service_messages(tmp_path):
    # given
    sink = WebhookSink()
    sandbox = sandbox_with(tmp_path, sink, read_rate=0.0)

    # when
    sandbox.send_text(
        PHONE_NUMBER_ID,
        "+16505551234",
        "Thanks!",
        biz_opaque_callback_data="r:1",
        last_inbound_at=datetime.now(UTC),
    )
    assert sandbox.wait_for_webhooks(2.0) is True

    # then
    assert sink.statuses[0]["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    }
    assert sink.statuses[0]["biz_opaque_callback_data"] == "r:1"
    sandbox.close()


class _Receiver(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        return

    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        with server.lock:
            server.attempts += 1
            failing = server.attempts <= server.fail_first
            if not failing:
                server.received.append((raw, dict(self.headers)))
        self.send_response(500 if failing else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.lock = threading.Lock()
    server.attempts = 0
    server.fail_first = 0
    server.received = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_webhooks_reach_a_real_http_receiver_signed(tmp_path, receiver):
    # given
    url = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks/whatsapp/"
    sandbox = sandbox_with(tmp_path, url)

    # when
    message = TemplateMessage(
        to="+34612345678",
        template_name="loyalty_offer",
        language_code="es_ES",
        parameter_format="NAMED",
        body_parameters={"first_name": "Lucía", "points": "1200"},
        buttons=[ButtonParameter(index=0, sub_type="url", value="spring-42")],
        biz_opaque_callback_data="msg:77",
    )
    accepted = sandbox.send_template(PHONE_NUMBER_ID, message)
    assert sandbox.wait_for_webhooks(3.0) is True

    # then
    assert len(receiver.received) == 3
    statuses = []
    for raw, headers in receiver.received:
        assert signatures.verify(raw, headers["X-Hub-Signature-256"], APP_SECRET) is True
        statuses.extend(json.loads(raw)["entry"][0]["changes"][0]["value"]["statuses"])
    assert [status["status"] for status in statuses] == ["sent", "delivered", "read"]
    assert {status["id"] for status in statuses} == {accepted.wamid}
    assert statuses[0]["pricing"]["category"] == "marketing"
    sandbox.close()


def test_failed_deliveries_are_retried(tmp_path, receiver):
    # given: the receiver answers 500 to the first two attempts
    receiver.fail_first = 2
    url = f"http://127.0.0.1:{receiver.server_address[1]}/"
    sandbox = sandbox_with(tmp_path, url, read_rate=0.0, delivery_attempts=3)

    # when
    sandbox.send_template(PHONE_NUMBER_ID, order_update())
    assert sandbox.wait_for_webhooks(3.0) is True

    # then
    assert receiver.attempts == 4
    assert sorted(
        json.loads(raw)["entry"][0]["changes"][0]["value"]["statuses"][0]["status"]
        for raw, _ in receiver.received
    ) == ["delivered", "sent"]
    sandbox.close()


def test_a_broken_target_never_breaks_the_sender(tmp_path, caplog):
    # given
    def broken(body: bytes, headers: dict[str, str]) -> None:
        raise ConnectionRefusedError("nobody listening")

    sandbox = sandbox_with(tmp_path, broken, read_rate=0.0, delivery_attempts=2)

    # when
    with caplog.at_level(logging.WARNING, logger="whatsapp.sandbox.delivery"):
        outcome = sandbox.send_template(PHONE_NUMBER_ID, order_update())
        assert sandbox.wait_for_webhooks(2.0) is True

    # then
    assert isinstance(outcome, SendAccepted)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("will retry" in message for message in messages) == 2
    assert sum("dropped after 2 attempts" in message for message in messages) == 2
    sandbox.close()
