"""OpenAPI examples of the main contacts calls (shown in Swagger UI, sent by the API fuzz test)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

from config.api.schema import error_example, validation_error_example

CONTACT = {
    "id": 1042,
    "phone": "+447911123456",
    "wa_id": "447911123456",
    "whatsapp_user_id": None,
    "name": "Maria Silva",
    "external_id": "C-1042",
    "language": "pt_BR",
    "timezone": "Europe/Lisbon",
    "attributes": {"tier": "gold"},
    "tags": ["newsletter", "vip"],
    "consent": {"marketing": None, "utility": None},
    "last_inbound_at": None,
    "created_at": "2026-03-01T10:00:00Z",
    "updated_at": "2026-03-01T10:00:00Z",
    "erased_at": None,
}

CONTACT_CREATE = [
    OpenApiExample(
        "A contact",
        request_only=True,
        value={
            "phone": "+44 7911 123456",
            "name": "Maria Silva",
            "external_id": "C-1042",
            "language": "pt_BR",
            "timezone": "Europe/Lisbon",
            "attributes": {"tier": "gold"},
            "tags": ["vip", "newsletter"],
        },
    ),
    OpenApiExample("Created", response_only=True, status_codes=["201"], value=CONTACT),
    error_example(
        "A phone that is not a number",
        validation_error_example(
            "phone",
            "Phone 'call me' contains characters other than digits, spaces, '+', '-', '(' and ')'.",
        ),
    ),
]

BULK_UPSERT = [
    OpenApiExample(
        "Two contacts, one with an opt-in",
        request_only=True,
        value={
            "contacts": [
                {
                    "phone": "+447911123457",
                    "name": "Ana Costa",
                    "external_id": "C-1043",
                    "tags": "vip,newsletter",
                    "consent": {
                        "action": "opt_in",
                        "scope": "marketing",
                        "source": "web_form",
                        "evidence": "https://shop.example.com/signup#form-7",
                        "captured_at": "2026-03-01T10:00:00Z",
                    },
                },
                {"phone": "not a phone", "name": "Typo"},
            ]
        },
    ),
    OpenApiExample(
        "One result per item",
        response_only=True,
        status_codes=["200"],
        value={
            "results": [
                {"index": 0, "outcome": "created", "contact_id": 1043, "reason": ""},
                {
                    "index": 1,
                    "outcome": "rejected",
                    "contact_id": None,
                    "reason": "Phone 'not a phone' contains characters other than digits, "
                    "spaces, '+', '-', '(' and ')'.",
                },
            ],
            "counts": {"created": 1, "updated": 0, "unchanged": 0, "merged": 0, "rejected": 1},
        },
    ),
]

CONSENT_CREATE = [
    OpenApiExample(
        "An opt-in to marketing",
        request_only=True,
        value={
            "action": "opt_in",
            "scope": "marketing",
            "source": "web_form",
            "evidence": "https://shop.example.com/signup#form-7",
            "captured_at": "2026-03-01T10:00:00Z",
            "policy_version": "2026-01",
        },
    ),
    OpenApiExample(
        "An opt-out of everything",
        request_only=True,
        value={"action": "opt_out", "scope": "all", "source": "api"},
    ),
    OpenApiExample(
        "Recorded",
        response_only=True,
        status_codes=["201"],
        value={
            "id": 88,
            "contact": 1042,
            "action": "opt_in",
            "scope": "marketing",
            "source": "web_form",
            "evidence": "https://shop.example.com/signup#form-7",
            "captured_at": "2026-03-01T10:00:00Z",
            "recorded_at": "2026-03-01T10:00:02Z",
            "recorded_by": "crm-sync",
            "recorded_via": "API token",
            "ip_address": "203.0.113.7",
            "user_agent": "crm-sync/2.1",
            "policy_version": "2026-01",
            "source_import": None,
        },
    ),
    error_example(
        "An opt-in without its time",
        validation_error_example(
            "captured_at", "An opt-in needs the time the person gave it.", code="invalid"
        ),
    ),
]
