"""Meta's webhook endpoint: the verification handshake, signatures and the body-size limit."""

from __future__ import annotations

import json

import pytest

from whatsapp import signatures

URL = "/webhooks/whatsapp/"
STATUS_PAYLOAD = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550783881",
                            "phone_number_id": "106540352242922",
                        },
                        "statuses": [
                            {
                                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3",
                                "status": "delivered",
                                "timestamp": "1750030073",
                                "recipient_id": "16505551234",
                            }
                        ],
                    },
                }
            ],
        }
    ],
}


def post_signed(client, body: bytes, signature: str | None):
    headers = {} if signature is None else {"HTTP_X_HUB_SIGNATURE_256": signature}
    return client.post(URL, data=body, content_type="application/json", **headers)


def test_handshake_echoes_the_challenge_when_the_verify_token_matches(client, settings):
    response = client.get(
        URL,
        {
            "hub.mode": "subscribe",
            "hub.verify_token": settings.WHATSAPP_VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )

    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_handshake_is_refused_with_a_wrong_token_or_mode(client, params):
    response = client.get(URL, params)

    assert response.status_code == 403
    assert b"1" not in response.content.replace(b"verification failed", b"")


def test_a_correctly_signed_delivery_is_acknowledged(client, settings):
    body = json.dumps(STATUS_PAYLOAD).encode()

    response = post_signed(client, body, signatures.sign(body, settings.WHATSAPP_APP_SECRET))

    assert response.status_code == 200


def test_a_delivery_without_signature_is_refused_with_401(client):
    response = post_signed(client, json.dumps(STATUS_PAYLOAD).encode(), None)

    assert response.status_code == 401


def test_a_delivery_signed_with_another_secret_is_refused_with_403(client):
    body = json.dumps(STATUS_PAYLOAD).encode()

    response = post_signed(client, body, signatures.sign(body, "someone-elses-secret"))

    assert response.status_code == 403


def test_a_body_altered_after_signing_is_refused(client, settings):
    body = json.dumps(STATUS_PAYLOAD).encode()
    signature = signatures.sign(body, settings.WHATSAPP_APP_SECRET)

    response = post_signed(client, body.replace(b"delivered", b"read"), signature)

    assert response.status_code == 403


def test_a_body_over_metas_three_megabytes_is_refused_with_413(client, settings):
    body = b'{"object":"whatsapp_business_account","pad":"' + b"x" * (3 * 1024 * 1024) + b'"}'

    response = post_signed(client, body, signatures.sign(body, settings.WHATSAPP_APP_SECRET))

    assert response.status_code == 413


def test_a_signed_body_just_under_the_limit_is_accepted(client, settings):
    padding = b"x" * (3 * 1024 * 1024 - 100)
    body = b'{"object":"whatsapp_business_account","pad":"' + padding + b'"}'

    response = post_signed(client, body, signatures.sign(body, settings.WHATSAPP_APP_SECRET))

    assert response.status_code == 200


def test_other_methods_are_not_allowed(client):
    assert client.put(URL, data=b"{}").status_code == 405
