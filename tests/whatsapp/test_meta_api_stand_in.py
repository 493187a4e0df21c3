"""The stand-in itself must be as strict as Meta, or tests built on it prove nothing."""

from __future__ import annotations

import requests

from tests.support.meta_api import MetaAPIStandIn
from tests.whatsapp.helpers import ACCESS_TOKEN, PHONE_NUMBER_ID

AUTH = {"Authorization": f"Bearer {ACCESS_TOKEN}"}


def post(meta: MetaAPIStandIn, body, headers=AUTH) -> requests.Response:
    return requests.post(
        f"{meta.base_url}/v23.0/{PHONE_NUMBER_ID}/messages", json=body, headers=headers, timeout=2
    )


def template_body(**template) -> dict:
    return {
        "messaging_product": "whatsapp",
        "to": "+5511999990000",
        "type": "template",
        "template": {"name": "order_update", "language": {"code": "en_US"}, **template},
    }


def body_parameters(*values) -> list[dict]:
    return [{"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}]


def test_missing_or_wrong_token_is_code_190(meta_api):
    # when
    missing = post(meta_api, template_body(), headers={})
    wrong = post(meta_api, template_body(), headers={"Authorization": "Bearer nope"})

    # then
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, 190)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, 190)
    assert meta_api.accepted_messages == []


def test_body_without_messaging_product_is_code_100(meta_api):
    body = template_body()
    del body["messaging_product"]

    response = post(meta_api, body)

    assert (response.status_code, response.json()["error"]["code"]) == (400, 100)


def test_non_string_text_parameter_is_code_100(meta_api):
    meta_api.add_template("order_update", "en_US", body_text="Hi {{1}}, order {{2}}.")

    response = post(meta_api, template_body(components=body_parameters("Maria", 42)))

    assert response.json()["error"]["code"] == 100
    assert meta_api.send_count == 1
    assert meta_api.accepted_messages == []


def test_unknown_template_and_count_mismatch(meta_api):
    meta_api.add_template("order_update", "en_US", body_text="Hi {{1}}, order {{2}}.")

    unknown = post(meta_api, template_body(name="nope", components=body_parameters("a", "b")))
    mismatch = post(meta_api, template_body(components=body_parameters("Maria")))
    fine = post(meta_api, template_body(components=body_parameters("Maria", "A-1")))

    assert unknown.json()["error"]["code"] == 132001
    assert mismatch.json()["error"]["code"] == 132000
    assert fine.json()["messages"][0]["id"] == "wamid.STANDIN000000000001"
    assert meta_api.send_count == 3


def test_relaxed_mode_accepts_any_template():
    with MetaAPIStandIn(access_token=ACCESS_TOKEN, strict_templates=False) as meta:
        response = post(meta, template_body(name="anything"))

    assert response.status_code == 200


def test_scripts_can_target_one_endpoint_and_run_out(meta_api):
    # given
    meta_api.add_template("order_update", "en_US", body_text="Hi")
    meta_api.fail_next(131056, times=2, endpoint="messages")

    # when
    listing = requests.get(
        f"{meta_api.base_url}/v23.0/1/message_templates", headers=AUTH, timeout=2
    )
    codes = [post(meta_api, template_body()).status_code for _ in range(3)]

    # then
    assert listing.status_code == 200
    assert codes == [400, 400, 200]
