"""Conversions API: integrators report orders; everyone with the view permission lists them."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from config.api.schema import ErrorResponse409Serializer
from contacts.models import Contact
from contacts.phones import InvalidPhoneNumber, normalise_phone

from ..conversions import ConversionConflict, conversion_record, conversion_replay
from ..errors import CampaignError
from ..models import Conversion
from ..transactional import request_fingerprint
from .views import Conflict, as_validation_error

REPLAYED_HEADER = "Idempotent-Replayed"


ORDER_ID_MAX_LENGTH = 255


def is_storable_order_id(order_id: str) -> bool:
    return len(order_id) <= ORDER_ID_MAX_LENGTH and "\x00" not in order_id


class ConversionCreateSerializer(serializers.Serializer):
    """One order of one contact (by id, phone or external_id)."""

    contact_id = serializers.IntegerField(required=False, min_value=1)
    phone = serializers.CharField(required=False, help_text="Any format; normalised to E.164.")
    external_id = serializers.CharField(required=False)
    order_id = serializers.CharField(
        max_length=ORDER_ID_MAX_LENGTH,
        help_text="Your order's id: reporting it again is idempotent.",
    )
    value = serializers.DecimalField(
        max_digits=18, decimal_places=4, min_value=0, help_text="The order's value."
    )
    currency = serializers.CharField(
        min_length=3, max_length=3, help_text='ISO 4217 code such as "EUR".'
    )
    occurred_at = serializers.DateTimeField(help_text="When the order was placed.")

    def validate(self, attrs: dict) -> dict:
        given = [key for key in ("contact_id", "phone", "external_id") if attrs.get(key)]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"contact_id": ["Give exactly one of contact_id, phone or external_id."]}
            )
        return attrs


class ConversionSerializer(serializers.ModelSerializer):
    attributed = serializers.SerializerMethodField(
        help_text="Whether a campaign message within the attribution window led to it."
    )

    class Meta:
        model = Conversion
        fields = (
            "id",
            "order_id",
            "contact",
            "value",
            "currency",
            "occurred_at",
            "attributed",
            "campaign",
            "message",
            "attribution_window_hours",
            "created_at",
        )
        read_only_fields = fields

    def get_attributed(self, conversion: Conversion) -> bool:
        return conversion.message_id is not None


class ConversionFilter(django_filters.FilterSet):
    class Meta:
        model = Conversion
        fields = {
            "campaign": ["exact", "isnull"],
            "contact": ["exact"],
            "order_id": ["exact"],
            "currency": ["exact"],
            "occurred_at": ["gte", "lte"],
        }


EXAMPLE = {
    "external_id": "C-1042",
    "order_id": "ORD-2026-0001",
    "value": "49.90",
    "currency": "EUR",
    "occurred_at": "2026-05-04T10:15:00Z",
}

CONFLICT_EXAMPLE = {
    "type": "client_error",
    "errors": [
        {
            "code": "conflict",
            "detail": "This order was already reported with a different body.",
            "attr": "order_id",
        }
    ],
}


class ConversionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Conversions reported by integrators, each attributed to a campaign message or not."""

    queryset = Conversion.objects.order_by("-occurred_at", "-id")
    serializer_class = ConversionSerializer
    filterset_class = ConversionFilter

    @extend_schema(
        request=ConversionCreateSerializer,
        responses={
            201: ConversionSerializer,
            409: OpenApiResponse(
                ErrorResponse409Serializer,
                description="The order was already reported with another body.",
            ),
        },
        examples=[
            OpenApiExample("An order", value=EXAMPLE, request_only=True),
            OpenApiExample(
                "Reported before with another body",
                value=CONFLICT_EXAMPLE,
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Report an order. Reporting the same order again with the same body returns the
        original conversion (201, header `Idempotent-Replayed: true`); with another body, 409."""
        fingerprint = request_fingerprint(request.data)
        order_id = request.data.get("order_id") if hasattr(request.data, "get") else None
        # Only an order id the serializer would accept is looked up (a NUL byte or an overlong
        # one must end as a 400 naming the field, not reach the database).
        if isinstance(order_id, str) and order_id and is_storable_order_id(order_id):
            try:
                # First, so a retry costs one lookup and answers as the original did.
                replayed = conversion_replay(order_id=order_id, fingerprint=fingerprint)
            except ConversionConflict as error:
                raise Conflict(error.field_errors) from error
            if replayed is not None:
                return self._answer(replayed, replayed=True)
        data = ConversionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            result = conversion_record(
                contact=self._contact(values),
                order_id=values["order_id"],
                value=values["value"],
                currency=values["currency"],
                occurred_at=values["occurred_at"],
                fingerprint=fingerprint,
                reported_by=request.user,
            )
        except ConversionConflict as error:
            raise Conflict(error.field_errors) from error
        except CampaignError as error:
            raise as_validation_error(error) from error
        return self._answer(result.conversion, replayed=not result.created)

    @staticmethod
    def _answer(conversion: Conversion, *, replayed: bool) -> Response:
        response = Response(ConversionSerializer(conversion).data, status=status.HTTP_201_CREATED)
        if replayed:
            response[REPLAYED_HEADER] = "true"
        return response

    @staticmethod
    def _contact(values: dict) -> Contact:
        contacts = Contact.objects.filter(erased_at__isnull=True)
        if values.get("contact_id"):
            field, found = "contact_id", contacts.filter(pk=values["contact_id"]).first()
        elif values.get("external_id"):
            field, found = "external_id", contacts.filter(external_id=values["external_id"]).first()
        else:
            field = "phone"
            try:
                phone = normalise_phone(values["phone"])
            except InvalidPhoneNumber as error:
                raise serializers.ValidationError({"phone": [str(error)]}) from error
            found = contacts.filter(phone=phone).first()
        if found is None:
            raise serializers.ValidationError({field: ["No contact matches."]})
        return found
