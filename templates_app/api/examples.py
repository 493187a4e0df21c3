"""OpenAPI examples of the main templates calls."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

PREVIEW = [
    OpenApiExample(
        "Given values, the rest from the template's examples",
        request_only=True,
        value={"values": {"body.1": "Maria"}, "use_examples": True},
    ),
    OpenApiExample(
        "As the recipient sees it",
        response_only=True,
        status_codes=["200"],
        value={
            "values": {
                "header.1": "A-1042",
                "body.1": "Maria",
                "body.2": "A-1042",
                "body.3": "Friday",
                "button.0": "A-1042",
            },
            "rendered": {
                "header": "Order A-1042",
                "header_media_kind": None,
                "header_media": None,
                "body": "Hi Maria, your order A-1042 is on its way and arrives on Friday.",
                "footer": "Tidings demo store",
                "buttons": [
                    {
                        "index": 0,
                        "type": "URL",
                        "text": "Track order",
                        "url": "https://shop.example.com/track/A-1042",
                        "phone_number": None,
                    },
                    {
                        "index": 1,
                        "type": "QUICK_REPLY",
                        "text": "Stop updates",
                        "url": None,
                        "phone_number": None,
                    },
                ],
                "text": "Order A-1042\n\nHi Maria, your order A-1042 is on its way and arrives on "
                "Friday.\n\nTidings demo store",
            },
            "errors": [],
            "warnings": [],
            "is_sendable": True,
        },
    ),
]
