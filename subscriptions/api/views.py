"""Subscriptions API: thin views over the subscriptions services and selectors."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from config.api.permissions import requires_permissions

from .. import services
from ..errors import SubscriptionError
from ..models import DeliveryState, Subscription
from ..selectors import subscription_deliveries, subscription_secret_details
from .serializers import (
    DeliverySerializer,
    SecretSerializer,
    SubscriptionInputSerializer,
    SubscriptionSerializer,
    TestResultSerializer,
)

CAN_MANAGE = requires_permissions(
    "subscriptions.view_subscription", "subscriptions.change_subscription"
)
CAN_READ_DELIVERIES = requires_permissions(
    "subscriptions.view_subscription", "subscriptions.view_delivery"
)


def as_validation_error(error: SubscriptionError) -> serializers.ValidationError:
    if error.field_errors:
        return serializers.ValidationError(error.field_errors)
    return serializers.ValidationError([error.message])


class SubscriptionFilter(django_filters.FilterSet):
    class Meta:
        model = Subscription
        fields = {"active": ["exact"], "target_url": ["icontains"]}


class DeliveryFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=DeliveryState.choices)
    event_type = django_filters.CharFilter(field_name="event__type")


_EXAMPLE = OpenApiExample(
    "Delivery status and replies",
    value={
        "target_url": "https://crm.example.com/hooks/tidings",
        "event_types": ["message.delivered", "message.read", "message.failed", "message.received"],
        "description": "CRM timeline",
    },
    request_only=True,
)


class SubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Outbound event webhooks: where Tidings POSTs signed events, and how each went."""

    queryset = Subscription.objects.order_by("-id")
    serializer_class = SubscriptionSerializer
    filterset_class = SubscriptionFilter

    def get_permissions(self) -> list:
        if self.action in {"test", "secret", "rotate_secret", "enable"}:
            return [IsAuthenticated(), CAN_MANAGE()]
        if self.action == "deliveries":
            return [IsAuthenticated(), CAN_READ_DELIVERIES()]
        return super().get_permissions()

    @extend_schema(
        request=SubscriptionInputSerializer,
        responses={201: SubscriptionSerializer},
        examples=[_EXAMPLE],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = SubscriptionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            subscription = services.subscription_create(
                created_by=request.user, **data.validated_data
            )
        except SubscriptionError as error:
            raise as_validation_error(error) from error
        return Response(SubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SubscriptionInputSerializer, responses=SubscriptionSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        subscription = self.get_object()
        partial = kwargs.get("partial", False)
        data = SubscriptionInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        try:
            subscription = services.subscription_update(subscription=subscription, **fields)
        except SubscriptionError as error:
            raise as_validation_error(error) from error
        return Response(SubscriptionSerializer(subscription).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete the subscription and its delivery log."""
        services.subscription_delete(subscription_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        responses=DeliverySerializer(many=True),
        parameters=[
            OpenApiParameter("state", enum=DeliveryState.values, description="Delivery state."),
            OpenApiParameter("event_type", description="Only events of this type."),
        ],
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        """Its deliveries, newest first, each with its event and the log of every attempt
        (status code, duration, error, the first characters of the answer)."""
        subscription = self.get_object()
        queryset = DeliveryFilter(
            request.query_params, queryset=subscription_deliveries(subscription_id=subscription.pk)
        )
        if not queryset.is_valid():
            raise serializers.ValidationError(queryset.errors)
        page = self.paginate_queryset(queryset.qs)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses=TestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Send a signed `ping` event now, once, and answer how the receiver took it. Works on a
        disabled subscription too, to check a fix before enabling it again."""
        outcome = services.subscription_send_test(subscription_id=self.get_object().pk)
        return Response(TestResultSerializer({**asdict(outcome), "summary": outcome.summary}).data)

    @extend_schema(responses=SecretSerializer)
    @action(detail=True, methods=["get"])
    def secret(self, request: Request, pk: str | None = None) -> Response:
        """The signing secret (derived, never stored), for whoever manages the subscription."""
        return Response(SecretSerializer(subscription_secret_details(self.get_object())).data)

    @extend_schema(request=None, responses=SecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        """A new public id and so a new secret; the previous one keeps signing for
        TIDINGS_SUBSCRIPTION_SECRET_ROTATION_HOURS."""
        subscription = services.subscription_rotate_secret(subscription_id=self.get_object().pk)
        return Response(SecretSerializer(subscription_secret_details(subscription)).data)

    @extend_schema(request=None, responses=SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str | None = None) -> Response:
        """Enable a subscription that was disabled (automatically after repeated failures, or by
        hand): the failure count is cleared and its pending deliveries are attempted now."""
        subscription = services.subscription_enable(subscription_id=self.get_object().pk)
        return Response(SubscriptionSerializer(subscription).data)
