"""Data sources API: `/api/v1/data-sources/` CRUD, plus `test` (fetch one contact's data now)
and `invalidate` (forget cached values)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.models import DataSource
from campaigns.personalisation import breaker as personalisation_breaker
from campaigns.personalisation import invalidate
from campaigns.personalisation.data_sources import (
    DataSourceInUse,
    data_source_delete,
    data_source_save,
    data_source_test,
)
from contacts.models import Contact

EDITABLE_FIELDS = (
    "name",
    "url_template",
    "key_field",
    "auth_header",
    "auth_env_var",
    "timeout_seconds",
    "ttl_seconds",
    "max_concurrency",
    "is_active",
)


URL_TEMPLATE_HELP = (
    "The customer's URL with the key's placeholder, e.g. "
    "https://crm.example.com/v1/customers/{external_id} (a template, so not itself a URI)."
)


class CanChangeDataSources(BasePermission):
    """For POST actions that are neither creations nor plain reads: calling the source with its
    secret, or flushing its cache, is what changing a data source allows."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(
            request.user
            and request.user.has_perms(["campaigns.view_datasource", "campaigns.change_datasource"])
        )


class DataSourceOutputSerializer(serializers.ModelSerializer):
    url_template = serializers.CharField(read_only=True, help_text=URL_TEMPLATE_HELP)
    circuit_open = serializers.SerializerMethodField(
        help_text="True while the circuit breaker keeps Tidings from calling this source."
    )

    class Meta:
        model = DataSource
        fields = (
            "id",
            *EDITABLE_FIELDS,
            "cache_version",
            "circuit_open",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_circuit_open(self, source: DataSource) -> bool:
        return personalisation_breaker.is_open(source)


class DataSourceInputSerializer(serializers.ModelSerializer):
    """The editable fields; the rules across fields are checked by `data_source_save`."""

    url_template = serializers.CharField(max_length=500, help_text=URL_TEMPLATE_HELP)

    class Meta:
        model = DataSource
        fields = EDITABLE_FIELDS


class TestInputSerializer(serializers.Serializer):
    key = serializers.CharField(
        required=False, max_length=200, help_text="A value of the key field, e.g. an external id."
    )
    contact = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.not_erased(), required=False, help_text="Or a contact's id."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("key" in attrs) == ("contact" in attrs):
            raise serializers.ValidationError('Give either "key" or "contact".')
        return attrs


class TestOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    url = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.FloatField()
    data = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class InvalidateInputSerializer(serializers.Serializer):
    keys = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, allow_empty=False
    )
    all = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("keys" in attrs) == bool(attrs.get("all")):
            raise serializers.ValidationError('Give either "keys" or "all": true.')
        return attrs


class InvalidateOutputSerializer(serializers.Serializer):
    source = serializers.CharField()
    keys = serializers.IntegerField()
    all_keys = serializers.BooleanField()
    cache_version = serializers.IntegerField()


def _save(source: DataSource) -> DataSource:
    try:
        return data_source_save(data_source=source)
    except DjangoValidationError as error:
        detail = error.message_dict if hasattr(error, "error_dict") else error.messages
        raise serializers.ValidationError(detail) from error


class DataSourceViewSet(viewsets.ModelViewSet):
    serializer_class = DataSourceOutputSerializer
    filterset_fields = ("is_active", "key_field")

    def get_queryset(self) -> Any:
        return DataSource.objects.order_by("name")

    @extend_schema(request=DataSourceInputSerializer, responses={201: DataSourceOutputSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        given = DataSourceInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        source = _save(DataSource(**given.validated_data))
        return Response(DataSourceOutputSerializer(source).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DataSourceInputSerializer, responses=DataSourceOutputSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        source = self.get_object()
        given = DataSourceInputSerializer(
            source, data=request.data, partial=kwargs.get("partial", False)
        )
        given.is_valid(raise_exception=True)
        for field, value in given.validated_data.items():
            setattr(source, field, value)
        return Response(DataSourceOutputSerializer(_save(source)).data)

    @extend_schema(request=DataSourceInputSerializer, responses=DataSourceOutputSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance: DataSource) -> None:
        try:
            data_source_delete(data_source=instance)
        except DataSourceInUse as error:
            raise serializers.ValidationError([str(error)], code="in_use") from error

    @extend_schema(request=TestInputSerializer, responses=TestOutputSerializer)
    @action(
        detail=True, methods=["post"], permission_classes=[IsAuthenticated, CanChangeDataSources]
    )
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Fetch one contact's data now (no cache, no breaker) and show it, or the error."""
        source = self.get_object()
        given = TestInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        outcome = data_source_test(
            data_source=source,
            key_value=given.validated_data.get("key"),
            contact=given.validated_data.get("contact"),
        )
        return Response(
            TestOutputSerializer(
                {
                    "ok": outcome.data is not None,
                    "url": outcome.url,
                    "status_code": outcome.status_code,
                    "duration_ms": outcome.duration_ms,
                    "data": outcome.data,
                    "error": outcome.problem,
                }
            ).data
        )

    @extend_schema(request=InvalidateInputSerializer, responses=InvalidateOutputSerializer)
    @action(
        detail=True, methods=["post"], permission_classes=[IsAuthenticated, CanChangeDataSources]
    )
    def invalidate(self, request: Request, pk: str | None = None) -> Response:
        """Forget cached values: of some keys, or (`"all": true`) of every contact."""
        source = self.get_object()
        given = InvalidateInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        outcome = invalidate(
            source_name=source.name,
            keys=None if given.validated_data.get("all") else given.validated_data["keys"],
        )
        return Response(InvalidateOutputSerializer(asdict(outcome)).data)
