"""OpenAPI pieces shared by every app: the schema generator and the error bodies.

drf-standardized-errors would describe each 400 with one component per input field and an enum
of the codes DRF's own validators raise. Real 400s also carry the codes of the business rules
(raised by the services) and list indexes in `attr` (`contacts.3.phone`), which such a schema
calls invalid; so every 400 is described by one honest shape instead.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from drf_standardized_errors.openapi_serializers import ClientErrorEnum
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="A stable, machine-readable code: `required`, `invalid`, `not_found`, "
        "`permission_denied`, `conflict`, `throttled`…"
    )
    detail = serializers.CharField(help_text="What went wrong, for people.")
    attr = serializers.CharField(
        allow_null=True,
        help_text="The input the error is about, as a dotted path (`phone`, `contacts.3.phone`, "
        "`components.body`); null when it is about the request as a whole.",
    )


ERROR_400_TYPES = [("validation_error", "validation_error"), ("client_error", "client_error")]


class ErrorResponse400Serializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=ERROR_400_TYPES,
        help_text="`validation_error` for refused input (one entry per problem), `client_error` "
        "for a body that could not be parsed.",
    )
    errors = ErrorSerializer(many=True)

    class Meta:
        ref_name = "ErrorResponse400"


def _client_error(status_code: int, error_code: str) -> type[serializers.Serializer]:
    class OneError(ErrorSerializer):
        code = serializers.ChoiceField(choices=[(error_code, error_code)])

        class Meta:
            ref_name = f"Error{status_code}"

    class Response(serializers.Serializer):
        type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
        errors = OneError(many=True)

        class Meta:
            ref_name = f"ErrorResponse{status_code}"

    return Response


ErrorResponse409Serializer = _client_error(409, "conflict")
ErrorResponse413Serializer = _client_error(413, "request_too_large")


def validation_error_example(attr: str | None, detail: str, code: str = "invalid") -> dict:
    return {"type": "validation_error", "errors": [{"code": code, "detail": detail, "attr": attr}]}


def error_example(name: str, value: dict, status_code: int = 400) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status_code)])


class AutoSchema(StandardizedErrorsAutoSchema):
    """Adds the 413 that any request body over DATA_UPLOAD_MAX_MEMORY_SIZE gets."""

    def _should_add_error_response(self, responses: dict, status_code: str) -> bool:
        if status_code == "413":
            return (
                status_code not in responses
                and self.method in ("POST", "PUT", "PATCH")
                and self.get_request_serializer() is not None
            )
        return super()._should_add_error_response(responses, status_code)
