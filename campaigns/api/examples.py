"""OpenAPI examples of the main campaigns and messages calls."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

from config.api.schema import error_example, validation_error_example

MAPPING = {
    "header.1": {"source": "contact", "path": "external_id", "fallback": "your order"},
    "body.1": {"source": "contact", "path": "name", "fallback": "there"},
    "body.2": {"source": "attribute", "path": "last_order.id", "fallback": "-"},
    "body.3": {"source": "data_source", "path": "orders.eta", "format": "date"},
    "button.0": {"source": "contact", "path": "external_id", "fallback": "orders"},
}

CAMPAIGN = {
    "id": 17,
    "name": "Spring orders",
    "sender": 2,
    "template": 12,
    "default_language": "en_US",
    "fallback_template": None,
    "segment": 5,
    "variable_mapping": MAPPING,
    "fallback_variable_mapping": {},
    "tracked_links": {},
    "schedule_type": "now",
    "scheduled_at": None,
    "local_send_time": None,
    "quiet_hours_start": None,
    "quiet_hours_end": None,
    "valid_until": None,
    "throughput_per_second": None,
    "frequency_cap_count": None,
    "frequency_cap_window_hours": None,
    "unknown_outcome_policy": "at_most_once",
    "purpose": "Order status updates",
    "lawful_basis": "contract",
    "required_consent_scope": "utility",
    "status": "draft",
    "status_reason": "",
    "planned_at": None,
    "started_at": None,
    "finished_at": None,
    "created_at": "2026-03-01T10:00:00Z",
    "updated_at": "2026-03-01T10:00:00Z",
}

CAMPAIGN_CREATE = [
    OpenApiExample(
        "A draft",
        request_only=True,
        value={
            "name": "Spring orders",
            "template": 12,
            "sender": 2,
            "segment": 5,
            "variable_mapping": MAPPING,
            "purpose": "Order status updates",
            "lawful_basis": "contract",
            "schedule_type": "local_time",
            "scheduled_at": "2026-04-02T00:00:00Z",
            "local_send_time": "10:00:00",
            "quiet_hours_start": "21:00:00",
            "quiet_hours_end": "08:00:00",
        },
    ),
    OpenApiExample("Created", response_only=True, status_codes=["201"], value=CAMPAIGN),
    error_example(
        "A mapping that misses a variable",
        validation_error_example(
            "variable_mapping", "Variable body.3 of template 'order_update' (en_US) has no mapping."
        ),
    ),
]

DRY_RUN = [
    OpenApiExample("Three samples", request_only=True, value={"sample_size": 3}),
    OpenApiExample(
        "What would be sent",
        response_only=True,
        status_codes=["200"],
        value={
            "definition_errors": {},
            "audience": 1250,
            "would_send": 1180,
            "excluded": {"no_consent": 61, "invalid_number": 9},
            "samples": [
                {
                    "contact_id": 1042,
                    "phone": "+447911123456",
                    "language": "en_US",
                    "template": "order_update",
                    "variant": "primary",
                    "not_before": "2026-04-02T09:00:00Z",
                    "parameters": {
                        "header.1": "C-1042",
                        "body.1": "Maria",
                        "body.2": "A-77",
                        "body.3": "Friday",
                        "button.0": "C-1042",
                    },
                    "text": "Order C-1042\n\nHi Maria, your order A-77 is on its way and arrives "
                    "on Friday.\n\nTidings demo store",
                    "payload": {
                        "messaging_product": "whatsapp",
                        "recipient_type": "individual",
                        "to": "+447911123456",
                        "type": "template",
                        "template": {
                            "name": "order_update",
                            "language": {"code": "en_US"},
                            "components": [
                                {
                                    "type": "header",
                                    "parameters": [{"type": "text", "text": "C-1042"}],
                                },
                                {
                                    "type": "body",
                                    "parameters": [
                                        {"type": "text", "text": "Maria"},
                                        {"type": "text", "text": "A-77"},
                                        {"type": "text", "text": "Friday"},
                                    ],
                                },
                                {
                                    "type": "button",
                                    "sub_type": "url",
                                    "index": "0",
                                    "parameters": [{"type": "text", "text": "C-1042"}],
                                },
                            ],
                        },
                    },
                }
            ],
            "skipped_samples": [{"contact_id": 1051, "reason": "no_consent"}],
        },
    ),
]

START = [
    OpenApiExample(
        "Running",
        response_only=True,
        status_codes=["200"],
        value={**CAMPAIGN, "status": "running", "started_at": "2026-03-01T10:05:00Z"},
    ),
    error_example(
        "Not a draft or scheduled campaign",
        validation_error_example(None, "Cannot start a completed campaign."),
    ),
]

MESSAGE = {
    "id": 90211,
    "campaign": None,
    "test_of_campaign": None,
    "contact": 1042,
    "sender": 2,
    "template": 12,
    "category": "UTILITY",
    "parameters": {
        "header.1": "A-77",
        "body.1": "Maria",
        "body.2": "A-77",
        "body.3": "Friday",
        "button.0": "A-77",
    },
    "status": "queued",
    "reason": "",
    "error_code": None,
    "error_title": "",
    "error_details": "",
    "attempts": 0,
    "wamid": "",
    "consent_record": 88,
    "not_before": "2026-03-01T10:00:00Z",
    "expires_at": "2026-03-02T10:00:00Z",
    "queued_at": "2026-03-01T10:00:00Z",
    "sent_at": None,
    "delivered_at": None,
    "read_at": None,
    "failed_at": None,
    "replied_at": None,
    "pricing_category": "",
    "pricing_type": "",
    "billable": None,
    "conversation_id": "",
    "created_at": "2026-03-01T10:00:00Z",
    "updated_at": "2026-03-01T10:00:00Z",
}

MESSAGE_CREATE = [
    OpenApiExample(
        "An order update to a contact by its CRM id",
        request_only=True,
        value={
            "external_id": "C-1042",
            "template": 12,
            "parameters": {
                "header.1": "A-77",
                "body.1": "Maria",
                "body.2": "A-77",
                "body.3": "Friday",
                "button.0": "A-77",
            },
            "valid_for_seconds": 86400,
        },
        description="Send with `Idempotency-Key: order-A-77-shipped`: a retry with the same key "
        "and body answers 201 with the same message and sends nothing again.",
    ),
    OpenApiExample("Queued", response_only=True, status_codes=["201"], value=MESSAGE),
    OpenApiExample(
        "The key reused with another body",
        response_only=True,
        status_codes=["409"],
        value={
            "type": "client_error",
            "errors": [
                {
                    "code": "conflict",
                    "detail": "This Idempotency-Key was already used with a different request "
                    "body.",
                    "attr": None,
                }
            ],
        },
    ),
    error_example(
        "No consent for this kind of message",
        validation_error_example("contact", "No utility consent."),
    ),
]
