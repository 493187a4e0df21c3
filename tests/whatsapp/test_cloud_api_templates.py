from __future__ import annotations

import pytest

from tests.whatsapp.helpers import ACCESS_TOKEN, WABA_ID
from whatsapp.base import CreatedTemplate, ErrorClass, ProviderError, RemoteTemplate
from whatsapp.cloud_api import TEMPLATE_FIELDS, CloudAPIProvider


@pytest.fixture
def paged_cloud(meta_api):
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN, base_url=meta_api.base_url, template_page_size=2
    )
    yield provider
    provider.close()


def test_listing_follows_cursor_paging_across_three_pages(paged_cloud, meta_api):
    # given
    for number in range(5):
        meta_api.add_template(f"template_{number}", "en_US", template_id=str(1000 + number))

    # when
    templates = list(paged_cloud.list_templates(WABA_ID))

    # then
    assert [template.name for template in templates] == [f"template_{n}" for n in range(5)]
    pages = meta_api.template_page_requests
    assert len(pages) == 3
    assert pages[0].path == f"/v23.0/{WABA_ID}/message_templates"
    assert pages[0].query == {"fields": [TEMPLATE_FIELDS], "limit": ["2"]}
    assert "after" in pages[1].query
    assert "after" in pages[2].query
    assert {page.headers["authorization"] for page in pages} == {f"Bearer {ACCESS_TOKEN}"}


def test_listed_template_keeps_raw_components_and_scores(paged_cloud, meta_api):
    # given
    components = [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
        {"type": "BODY", "text": "Hi {{1}}, thanks."},
    ]
    meta_api.add_template(
        "order_confirmation",
        "pt_BR",
        components=components,
        category="UTILITY",
        template_id="555",
        quality_score="GREEN",
    )

    # when
    [template] = list(paged_cloud.list_templates(WABA_ID))

    # then
    assert template == RemoteTemplate(
        id="555",
        name="order_confirmation",
        language="pt_BR",
        status="APPROVED",
        category="UTILITY",
        parameter_format="POSITIONAL",
        components=components,
        quality_score="GREEN",
        rejected_reason=None,
    )


def test_next_link_to_another_host_is_replaced_by_the_cursor(paged_cloud, meta_api):
    # given: the first page points its `next` link at a foreign host
    meta_api.add_template("second_page", "en_US")
    meta_api.respond_next(
        200,
        {
            "data": [{"id": "1", "name": "first_page", "language": "en_US", "status": "APPROVED"}],
            "paging": {
                "cursors": {"before": "MA==", "after": "MA=="},
                "next": "https://elsewhere.example/v23.0/x/message_templates?after=MA==",
            },
        },
    )

    # when
    names = [template.name for template in paged_cloud.list_templates(WABA_ID)]

    # then
    assert names == ["first_page", "second_page"]
    second = meta_api.template_page_requests[1]
    assert second.path == f"/v23.0/{WABA_ID}/message_templates"
    assert second.query["after"] == ["MA=="]


def test_listing_error_raises_provider_error(paged_cloud, meta_api):
    # given
    meta_api.fail_next(80007, message="(#80007) Rate limit issues")

    # when / then
    with pytest.raises(ProviderError) as caught:
        list(paged_cloud.list_templates(WABA_ID))
    assert caught.value.code == 80007
    assert caught.value.error_class is ErrorClass.RETRYABLE


def test_create_template_returns_pending(cloud, meta_api):
    # given
    components = [{"type": "BODY", "text": "Hi {{1}}, welcome.", "example": {"body_text": [["A"]]}}]

    # when
    created = cloud.create_template(
        WABA_ID,
        name="welcome_two",
        language="en_US",
        category="marketing",
        components=components,
        parameter_format="POSITIONAL",
    )

    # then
    assert created == CreatedTemplate(id=created.id, status="PENDING", category="MARKETING")
    [request] = meta_api.requests
    assert (request.method, request.path) == ("POST", f"/v23.0/{WABA_ID}/message_templates")
    assert request.body == {
        "name": "welcome_two",
        "language": "en_US",
        "category": "MARKETING",
        "components": components,
        "parameter_format": "POSITIONAL",
    }


def test_create_template_error_carries_the_readable_message(cloud, meta_api):
    # given
    meta_api.add_template("welcome_two", "en_US")
    components = [{"type": "BODY", "text": "Hi {{1}}, welcome."}]

    # when
    with pytest.raises(ProviderError) as caught:
        cloud.create_template(
            WABA_ID, name="welcome_two", language="en_US", category="MARKETING",
            components=components,
        )  # fmt: skip

    # then
    error = caught.value
    assert (error.code, error.subcode, error.http_status) == (100, 2388024, 400)
    assert error.user_title == "Content in This Language Already Exists"
    assert error.readable_message == (
        "Content in This Language Already Exists: There is already en_US content for this "
        "template. You can create a new template and try again."
    )
    assert error.error_class is ErrorClass.PERMANENT
    assert error.title == "Content in this language already exists"


def test_create_template_error_with_string_error_data(cloud, meta_api):
    # given
    meta_api.fail_next(100, message="Invalid parameter", error_data="Body text is too long")

    # when
    with pytest.raises(ProviderError) as caught:
        cloud.create_template(
            WABA_ID, name="x_y", language="en_US", category="UTILITY",
            components=[{"type": "BODY", "text": "x"}],
        )  # fmt: skip

    # then
    assert caught.value.details == "Body text is too long"
    assert str(caught.value) == "[100] Body text is too long"


def test_access_token_in_a_next_link_is_not_followed_into_the_url(paged_cloud, meta_api):
    # given: Graph sometimes embeds the token in `paging.next`
    meta_api.add_template("second_page", "en_US")
    meta_api.respond_next(
        200,
        {
            "data": [{"id": "1", "name": "first_page", "language": "en_US", "status": "APPROVED"}],
            "paging": {
                "cursors": {"after": "MA=="},
                "next": f"{meta_api.base_url}/v23.0/{WABA_ID}/message_templates"
                "?access_token=leaky&limit=2&after=MA%3D%3D",
            },
        },
    )

    # when
    names = [template.name for template in paged_cloud.list_templates(WABA_ID)]

    # then
    assert names == ["first_page", "second_page"]
    second = meta_api.template_page_requests[1]
    assert second.query == {"limit": ["2"], "after": ["MA=="]}
    assert second.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"


# --- Timeouts and server errors -------------------------------------------------------------


@pytest.fixture
def impatient_cloud(meta_api):
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN,
        base_url=meta_api.base_url,
        read_timeout=0.1,
        template_page_size=2,
    )
    yield provider
    provider.close()


def test_listing_read_timeout_raises_a_retryable_error(impatient_cloud, meta_api):
    # given
    meta_api.add_template("order_update", "en_US")
    meta_api.delay_next(0.4, endpoint="message_templates")

    # when / then
    with pytest.raises(ProviderError) as caught:
        list(impatient_cloud.list_templates(WABA_ID))
    assert caught.value.code is None
    assert "ReadTimeout" in caught.value.message
    assert caught.value.error_class is ErrorClass.RETRYABLE
    assert len(meta_api.template_page_requests) == 1


def test_listing_timeout_on_a_later_page_raises_after_the_earlier_pages(impatient_cloud, meta_api):
    # given: three templates, two per page; the second page answers too late
    for number in range(3):
        meta_api.add_template(f"template_{number}", "en_US")
    listing = impatient_cloud.list_templates(WABA_ID)
    first_page = [next(listing).name, next(listing).name]
    meta_api.delay_next(0.4, endpoint="message_templates")

    # when / then
    with pytest.raises(ProviderError) as caught:
        next(listing)
    assert first_page == ["template_0", "template_1"]
    assert caught.value.error_class is ErrorClass.RETRYABLE


@pytest.mark.parametrize(
    ("script", "code", "http_status"),
    [
        (lambda meta: meta.server_error_next(http_status=502, body="Bad Gateway"), None, 502),
        (
            lambda meta: meta.fail_next(2, http_status=500, message="(#2) Service unavailable"),
            2,
            500,
        ),
    ],
    ids=["proxy 502 without JSON", "Meta's 500 with code 2"],
)
def test_listing_server_error_raises_a_retryable_error(
    paged_cloud, meta_api, script, code, http_status
):
    # given
    meta_api.add_template("order_update", "en_US")
    script(meta_api)

    # when / then
    with pytest.raises(ProviderError) as caught:
        list(paged_cloud.list_templates(WABA_ID))
    assert (caught.value.code, caught.value.http_status) == (code, http_status)
    assert caught.value.error_class is ErrorClass.RETRYABLE


def create_welcome(provider):
    return provider.create_template(
        WABA_ID,
        name="welcome_three",
        language="en_US",
        category="UTILITY",
        components=[{"type": "BODY", "text": "Welcome aboard."}],
    )


def test_create_template_read_timeout_is_ambiguous(impatient_cloud, meta_api):
    # given: Meta creates the template but answers after the client gave up
    meta_api.delay_next(0.4, endpoint="message_templates")

    # when
    with pytest.raises(ProviderError) as caught:
        create_welcome(impatient_cloud)

    # then: the template exists although the call failed, so a retry may meet a duplicate
    assert caught.value.error_class is ErrorClass.RETRYABLE
    assert caught.value.ambiguous is True
    assert "ReadTimeout" in caught.value.message
    assert [template["name"] for template in meta_api.templates] == ["welcome_three"]


@pytest.mark.parametrize(
    ("script", "code", "http_status"),
    [
        (lambda meta: meta.server_error_next(http_status=503, body="Unavailable"), None, 503),
        (
            lambda meta: meta.fail_next(131000, http_status=500, message="(#131000) Oops"),
            131000,
            500,
        ),
    ],
    ids=["503 without JSON", "Meta's 500 with code 131000"],
)
def test_create_template_server_error_is_retryable_and_ambiguous(
    cloud, meta_api, script, code, http_status
):
    # given
    script(meta_api)

    # when
    with pytest.raises(ProviderError) as caught:
        create_welcome(cloud)

    # then
    assert (caught.value.code, caught.value.http_status) == (code, http_status)
    assert caught.value.error_class is ErrorClass.RETRYABLE
    assert caught.value.ambiguous is True
    assert meta_api.templates == []
