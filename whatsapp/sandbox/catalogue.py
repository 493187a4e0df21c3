"""The sandbox's templates: a built-in demo catalogue, and the record type for created ones.

Built-in templates are always APPROVED and exist for every WABA, in English, Brazilian Portuguese
and Spanish, so demos can exercise positional and named parameters, a media header, a URL button
with a variable and the marketing "Stop promotions" quick reply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from whatsapp.base import RemoteTemplate


@dataclass
class SandboxTemplate:
    """One template as the sandbox stores it. `waba_id` is None for built-in templates;
    `approve_at` (Unix seconds) is when a PENDING template becomes APPROVED."""

    id: str
    name: str
    language: str
    category: str
    parameter_format: str
    components: list[dict[str, Any]]
    status: str = "APPROVED"
    waba_id: str | None = None
    approve_at: float | None = None
    quality_score: str = "UNKNOWN"
    created_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_remote(self) -> RemoteTemplate:
        return RemoteTemplate(
            id=self.id,
            name=self.name,
            language=self.language,
            status=self.status,
            category=self.category,
            parameter_format=self.parameter_format,
            components=[dict(component) for component in self.components],
            quality_score=self.quality_score,
            rejected_reason="NONE",
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxTemplate:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


def _body(text: str, example: dict[str, Any]) -> dict[str, Any]:
    return {"type": "BODY", "text": text, "example": example}


def _order_update(language: str, text: str) -> dict[str, Any]:
    return {
        "name": "order_update",
        "language": language,
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [
            _body(text, {"body_text": [["Maria", "A-1042"]]}),
            {"type": "FOOTER", "text": "Tidings demo store"},
        ],
    }


def _welcome(language: str, text: str) -> dict[str, Any]:
    return {
        "name": "welcome",
        "language": language,
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [_body(text, {"body_text": [["Maria"]]})],
    }


def _loyalty_offer(
    language: str, header: str, text: str, shop_label: str, stop_label: str
) -> dict[str, Any]:
    return {
        "name": "loyalty_offer",
        "language": language,
        "category": "MARKETING",
        "parameter_format": "NAMED",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": header},
            _body(
                text,
                {
                    "body_text_named_params": [
                        {"param_name": "first_name", "example": "Maria"},
                        {"param_name": "points", "example": "1200"},
                    ]
                },
            ),
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": shop_label,
                        "url": "https://shop.example.com/offers/{{1}}",
                        "example": ["https://shop.example.com/offers/spring-42"],
                    },
                    {"type": "QUICK_REPLY", "text": stop_label},
                ],
            },
        ],
    }


def _seasonal_sale(language: str, text: str) -> dict[str, Any]:
    return {
        "name": "seasonal_sale",
        "language": language,
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::demo"]}},
            _body(text, {"body_text": [["25%"]]}),
        ],
    }


_DEFINITIONS: tuple[dict[str, Any], ...] = (
    _order_update("en_US", "Hi {{1}}, your order {{2}} is on its way."),
    _order_update("pt_BR", "Olá {{1}}, seu pedido {{2}} está a caminho."),
    _order_update("es_ES", "Hola {{1}}, tu pedido {{2}} está en camino."),
    _welcome("en_US", "Welcome to Tidings, {{1}}! We will keep you posted."),
    _welcome("pt_BR", "Boas-vindas à Tidings, {{1}}! Vamos manter você informado."),
    _welcome("es_ES", "¡Te damos la bienvenida a Tidings, {{1}}! Te mantendremos al día."),
    _loyalty_offer(
        "en_US",
        "A reward for you",
        "Hi {{first_name}}, you have {{points}} points waiting. Use them before Sunday.",
        "See offers",
        "Stop promotions",
    ),
    _loyalty_offer(
        "pt_BR",
        "Uma recompensa para você",
        "Olá {{first_name}}, você tem {{points}} pontos esperando. Use antes de domingo.",
        "Ver ofertas",
        "Parar promoções",
    ),
    _loyalty_offer(
        "es_ES",
        "Una recompensa para ti",
        "Hola {{first_name}}, tienes {{points}} puntos esperando. Úsalos antes del domingo.",
        "Ver ofertas",
        "Detener promociones",
    ),
    _seasonal_sale("en_US", "Our seasonal sale is on: {{1}} off everything this week."),
    _seasonal_sale("pt_BR", "Nossa liquidação chegou: {{1}} de desconto em tudo esta semana."),
    _seasonal_sale("es_ES", "Llegaron las rebajas: {{1}} de descuento en todo esta semana."),
)

BUILTIN_TEMPLATES: tuple[SandboxTemplate, ...] = tuple(
    SandboxTemplate(id=str(900_000_000_000_001 + position), **definition)
    for position, definition in enumerate(_DEFINITIONS)
)


def builtin_template(name: str, language: str) -> SandboxTemplate | None:
    for template in BUILTIN_TEMPLATES:
        if template.name == name and template.language == language:
            return template
    return None
