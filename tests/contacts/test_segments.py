"""Segments compile to one queryset; audiences are iterated in id chunks by keyset pagination."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from contacts import services
from contacts.errors import ContactError
from contacts.models import Contact, Segment
from contacts.selectors import iter_id_chunks, segment_contacts
from tests.contacts.factories import ContactFactory, UserFactory, ago, opt_in, opt_out

pytestmark = pytest.mark.django_db


def members(segment: Segment) -> set[str]:
    return set(segment_contacts(segment).values_list("name", flat=True))


def test_tags_any_and_tags_all():
    ContactFactory(name="vip only", tags=["vip"])
    ContactFactory(name="vip and news", tags=["vip", "news"])
    ContactFactory(name="news only", tags=["news"])
    ContactFactory(name="no tags")

    assert members(Segment(tags_any=["vip", "news"])) == {"vip only", "vip and news", "news only"}
    assert members(Segment(tags_all=["vip", "news"])) == {"vip and news"}
    assert members(Segment(tags_any=["news"], tags_all=["vip"])) == {"vip and news"}


def test_languages_match_exactly_or_by_bare_language():
    ContactFactory(name="br", language="pt_BR")
    ContactFactory(name="pt", language="pt_PT")
    ContactFactory(name="en", language="en_GB")

    assert members(Segment(languages=["pt"])) == {"br", "pt"}
    assert members(Segment(languages=["pt_BR", "en_GB"])) == {"br", "en"}


def test_attribute_rules_equals_and_contains():
    ContactFactory(name="gold leeds", attributes={"tier": "gold", "city": "Leeds"})
    ContactFactory(name="gold york", attributes={"tier": "gold", "city": "York"})
    ContactFactory(name="points", attributes={"points": 120})

    equals_gold = Segment(attribute_rules=[{"key": "tier", "operator": "equals", "value": "gold"}])
    contains_ee = Segment(attribute_rules=[{"key": "city", "operator": "contains", "value": "EE"}])
    number = Segment(attribute_rules=[{"key": "points", "operator": "equals", "value": 120}])

    assert members(equals_gold) == {"gold leeds", "gold york"}
    assert members(contains_ee) == {"gold leeds"}
    assert members(number) == {"points"}


def test_created_range_and_required_consent():
    old = ContactFactory(name="old")
    Contact.objects.filter(pk=old.pk).update(created_at=ago(days=30))
    marketing = ContactFactory(name="marketing")
    opt_in(marketing, "marketing")
    utility = ContactFactory(name="utility")
    opt_in(utility, "utility")
    both = ContactFactory(name="both")
    opt_in(both, "all")
    withdrawn = ContactFactory(name="withdrawn")
    opt_in(withdrawn, "marketing", captured_at=ago(days=2))
    opt_out(withdrawn, "marketing", captured_at=ago(days=1))

    recent = Segment(created_after=ago(days=1), created_before=timezone.now() + timedelta(1))
    assert members(recent) == {"marketing", "utility", "both", "withdrawn"}
    assert members(Segment(required_consent="marketing")) == {"marketing", "both"}
    assert members(Segment(required_consent="utility")) == {"utility", "both"}
    assert members(Segment(required_consent="all")) == {"both"}


def test_erased_contacts_are_never_in_a_segment():
    kept = ContactFactory(name="kept", tags=["vip"])
    erased = ContactFactory(tags=["vip"])
    services.contact_erase(contact=erased, erased_by=UserFactory())

    assert list(segment_contacts(Segment())) == [kept]


def test_a_segment_is_one_query_whatever_it_combines(django_assert_num_queries):
    ContactFactory(tags=["vip"], attributes={"tier": "gold"}, language="en_GB")
    segment = Segment(
        tags_any=["vip"],
        tags_all=["vip"],
        languages=["en"],
        attribute_rules=[{"key": "tier", "operator": "equals", "value": "gold"}],
        required_consent="",
    )

    with django_assert_num_queries(1):
        assert segment_contacts(segment).count() == 1


def test_segment_definitions_are_checked_before_saving():
    with pytest.raises(ContactError) as error:
        services.segment_create(
            name="Broken", attribute_rules=[{"key": "tier", "operator": "like", "value": "g"}]
        )
    assert error.value.field == "attribute_rules"
    with pytest.raises(ContactError) as error:
        services.segment_create(
            name="Backwards", created_after=ago(days=1), created_before=ago(days=2)
        )
    assert error.value.field == "created_after"
    assert Segment.objects.count() == 0

    segment = services.segment_create(
        name="Brazil VIPs", tags_any=["VIP"], languages=["pt-br"], required_consent="marketing"
    )
    assert (segment.tags_any, segment.languages) == (["vip"], ["pt_BR"])


# --- Chunks -------------------------------------------------------------------------------------


def test_ids_come_in_ascending_chunks_that_cover_the_audience_once():
    contacts = ContactFactory.create_batch(7)
    ids = sorted(contact.pk for contact in contacts)

    chunks = list(iter_id_chunks(Contact.objects.all(), size=3))

    assert chunks == [ids[0:3], ids[3:6], ids[6:7]]


def test_each_chunk_is_one_query_that_starts_after_the_last_id(django_assert_num_queries):
    ContactFactory.create_batch(4)
    chunks = iter_id_chunks(Contact.objects.all(), size=2)

    with django_assert_num_queries(1) as captured:
        next(chunks)
    with django_assert_num_queries(1) as second:
        next(chunks)
    with django_assert_num_queries(1):
        assert list(chunks) == []

    assert "LIMIT 2" in captured.captured_queries[0]["sql"]
    assert '"id" >' in second.captured_queries[0]["sql"]


def test_an_empty_audience_yields_nothing():
    assert list(iter_id_chunks(Contact.objects.none())) == []


def test_chunks_of_a_segment_follow_its_filter():
    wanted = [ContactFactory(tags=["vip"]).pk for _ in range(3)]
    ContactFactory.create_batch(2)

    chunks = list(iter_id_chunks(segment_contacts(Segment(tags_any=["vip"])), size=2))

    assert [contact_id for chunk in chunks for contact_id in chunk] == sorted(wanted)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, {"json true", "text true"}),
        (False, {"json false"}),
        (5, {"json 5", "text 5"}),
        (2.5, {"json 2.5"}),
        ("5", {"json 5", "text 5"}),
    ],
)
def test_equals_rules_compare_numbers_and_true_false_as_json_or_their_spelling(value, expected):
    ContactFactory(name="json true", attributes={"k": True})
    ContactFactory(name="text true", attributes={"k": "true"})
    ContactFactory(name="json false", attributes={"k": False})
    ContactFactory(name="json 5", attributes={"k": 5})
    ContactFactory(name="text 5", attributes={"k": "5"})
    ContactFactory(name="json 2.5", attributes={"k": 2.5})
    ContactFactory(name="missing", attributes={})

    segment = services.segment_create(
        name="Rule", attribute_rules=[{"key": "k", "operator": "equals", "value": value}]
    )

    assert members(segment) == expected


def test_a_rule_value_or_description_with_a_nul_character_is_refused():
    for definition, field in [
        (
            {"attribute_rules": [{"key": "k", "operator": "equals", "value": "a\x00"}]},
            "attribute_rules",
        ),
        (
            {"attribute_rules": [{"key": "k\x00", "operator": "equals", "value": "a"}]},
            "attribute_rules",
        ),
        ({"description": "a\x00b"}, "description"),
    ]:
        with pytest.raises(ContactError) as error:
            services.segment_create(name="Nul", **definition)
        assert error.value.field == field
        assert "NUL character" in error.value.message
    assert Segment.objects.count() == 0


# --- Counting a definition before saving it -----------------------------------------------------


def test_the_api_counts_a_definition_without_saving_it(api_as, marketing_user):
    ContactFactory(tags=["vip"], attributes={"vip": True})
    ContactFactory(tags=["vip"], attributes={"vip": False})
    ContactFactory()

    response = api_as(marketing_user).post(
        "/api/v1/segments/preview-count/",
        {
            "tags_any": ["VIP"],
            "attribute_rules": [{"key": "vip", "operator": "equals", "value": True}],
        },
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {"count": 1}
    assert Segment.objects.count() == 0


def test_a_compliance_user_may_preview_a_count_too(api_as, compliance_user):
    ContactFactory(language="pt_BR")

    response = api_as(compliance_user).post(
        "/api/v1/segments/preview-count/", {"languages": ["pt"]}, format="json"
    )

    assert (response.status_code, response.json()) == (200, {"count": 1})


@pytest.mark.parametrize(
    ("definition", "attr"),
    [
        (
            {"created_after": "2025-06-01T00:00:00Z", "created_before": "2025-01-01T00:00:00Z"},
            "created_after",
        ),
        ({"languages": ["english"]}, "languages"),
        (
            {"attribute_rules": [{"key": "k", "operator": "like", "value": "x"}]},
            "attribute_rules.0.operator",
        ),
    ],
)
def test_previewing_a_broken_definition_is_a_400_naming_the_field(
    api_as, marketing_user, definition, attr
):
    response = api_as(marketing_user).post(
        "/api/v1/segments/preview-count/", definition, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == attr


def test_previewing_needs_the_view_segment_permission(api_as):
    response = api_as(UserFactory()).post("/api/v1/segments/preview-count/", {}, format="json")

    assert response.status_code == 403


def test_the_admin_form_previews_the_count_without_saving(client, admin_user_account):
    ContactFactory(tags=["vip"])
    ContactFactory(tags=["vip"])
    ContactFactory()
    client.force_login(admin_user_account)
    assert 'name="_preview"' in client.get(reverse("admin:contacts_segment_add")).content.decode()
    form = {
        "name": "VIPs",
        "description": "",
        "tags_any": "vip",
        "tags_all": "",
        "languages": "",
        "attribute_rules": "[]",
        "required_consent": "",
        "_preview": "Preview count",
    }

    response = client.post(reverse("admin:contacts_segment_add"), form)

    assert response.status_code == 200
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == ["2 contacts match this definition now. Nothing was saved yet."]
    assert 'value="VIPs"' in response.content.decode()
    assert Segment.objects.count() == 0


def test_the_admin_preview_of_a_saved_segment_counts_the_edited_definition(
    client, admin_user_account
):
    ContactFactory(tags=["vip"])
    ContactFactory(tags=["news"])
    segment = services.segment_create(name="VIPs", tags_any=["vip"])
    client.force_login(admin_user_account)

    response = client.post(
        reverse("admin:contacts_segment_change", args=[segment.pk]),
        {
            "name": "VIPs",
            "description": "",
            "tags_any": "vip, news",
            "tags_all": "",
            "languages": "",
            "attribute_rules": "[]",
            "required_consent": "",
            "_preview": "Preview count",
        },
    )

    assert response.status_code == 200
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == ["2 contacts match this definition now. Nothing was saved yet."]
    segment.refresh_from_db()
    assert segment.tags_any == ["vip"]


def test_the_admin_preview_of_a_broken_definition_shows_the_form_error(client, admin_user_account):
    client.force_login(admin_user_account)

    response = client.post(
        reverse("admin:contacts_segment_add"),
        {"name": "Broken", "attribute_rules": '{"a": 1}', "_preview": "Preview count"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["attribute_rules"] == [
        "Must be a list of rules."
    ]
    assert list(get_messages(response.wsgi_request)) == []
    assert Segment.objects.count() == 0


def test_a_compliance_user_cannot_use_the_admin_preview(client, compliance_user):
    compliance_user.is_staff = True
    compliance_user.save()
    client.force_login(compliance_user)

    response = client.post(
        reverse("admin:contacts_segment_add"), {"name": "X", "_preview": "Preview count"}
    )

    assert response.status_code == 403
