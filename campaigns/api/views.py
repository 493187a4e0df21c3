"""Campaigns and messages API: thin views over the campaigns services and selectors."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from config.api.errors import Conflict
from config.api.filters import FilterSet
from config.api.permissions import requires_permissions
from config.api.schema import ErrorResponse409Serializer
from contacts.models import Contact
from contacts.phones import InvalidPhoneNumber, normalise_phone

from .. import services
from ..dry_run import campaign_dry_run
from ..errors import CampaignError
from ..models import Campaign, Message
from ..results import campaign_results
from ..selectors import campaign_progress
from ..transactional import (
    IdempotencyConflict,
    message_replay,
    message_send_transactional,
    request_fingerprint,
    scoped_key,
)
from . import examples
from .serializers import (
    CampaignInputSerializer,
    CampaignSerializer,
    CampaignStatsSerializer,
    DryRunInputSerializer,
    DryRunSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    TestSendInputSerializer,
)

CAN_LAUNCH = requires_permissions("campaigns.view_campaign", "campaigns.launch_campaign")
CAN_CHANGE = requires_permissions("campaigns.view_campaign", "campaigns.change_campaign")
CAN_SEND = requires_permissions("campaigns.add_message")


def as_validation_error(error: CampaignError) -> serializers.ValidationError:
    if error.field_errors:
        return serializers.ValidationError(error.field_errors)
    return serializers.ValidationError([error.message])


class CampaignFilter(FilterSet):
    class Meta:
        model = Campaign
        fields = {"status": ["exact"], "name": ["icontains"], "template": ["exact"]}


class CampaignViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Campaigns: authoring (drafts), the launch actions, dry run, test sends and progress."""

    queryset = Campaign.objects.select_related("template", "sender", "segment").order_by("-id")
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter

    def get_permissions(self) -> list:
        if self.action in {"schedule", "start", "resume"}:
            return [IsAuthenticated(), CAN_LAUNCH()]
        if self.action in {"pause", "cancel", "retry_failed", "dry_run", "test_send"}:
            return [IsAuthenticated(), CAN_CHANGE()]
        return super().get_permissions()

    @extend_schema(
        request=CampaignInputSerializer,
        responses={201: CampaignSerializer},
        examples=examples.CAMPAIGN_CREATE,
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = CampaignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            campaign = services.campaign_create(created_by=request.user, **data.validated_data)
        except CampaignError as error:
            raise as_validation_error(error) from error
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CampaignInputSerializer, responses=CampaignSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        campaign = self.get_object()
        partial = kwargs.get("partial", False)
        data = CampaignInputSerializer(campaign, data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        try:
            campaign = services.campaign_update(campaign=campaign, **data.validated_data)
        except CampaignError as error:
            raise as_validation_error(error) from error
        return Response(CampaignSerializer(campaign).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Only drafts can be deleted; anything further along is kept (cancel it instead)."""
        campaign = self.get_object()
        try:
            services.campaign_delete(campaign_id=campaign.pk)
        except CampaignError as error:
            raise as_validation_error(error) from error
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _transition(self, request: Request, service: Any, **extra: Any) -> Response:
        campaign = self.get_object()
        try:
            campaign = service(campaign_id=campaign.pk, **extra)
        except CampaignError as error:
            raise as_validation_error(error) from error
        return Response(CampaignSerializer(campaign).data)

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.campaign_schedule)

    @extend_schema(
        request=None,
        responses=CampaignSerializer,
        summary="Start now: plan the audience, then dispatch (needs launch_campaign)",
        examples=examples.START,
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.campaign_start)

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.campaign_pause)

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.campaign_resume)

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.campaign_cancel)

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"], url_path="retry-failed")
    def retry_failed(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, services.campaign_retry_failed)

    @extend_schema(
        request=DryRunInputSerializer,
        responses=DryRunSerializer,
        summary="Plan and render without sending: audience, exclusions, sample messages",
        examples=examples.DRY_RUN,
    )
    @action(detail=True, methods=["post"], url_path="dry-run")
    def dry_run(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        data = DryRunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = campaign_dry_run(campaign_id=campaign.pk, **data.validated_data)
        return Response(DryRunSerializer(asdict(result)).data)

    @extend_schema(request=TestSendInputSerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["post"], url_path="test-send")
    def test_send(self, request: Request, pk: str | None = None) -> Response:
        """Send the message now to a staff number (first recipient's data, no consent check,
        launch permission) or to a contact (its own data, its consent); recorded as a test."""
        campaign = self.get_object()
        data = TestSendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        phone = data.validated_data.get("phone")
        if phone and not request.user.has_perm("campaigns.launch_campaign"):
            raise PermissionDenied(
                "A test to a staff number skips the consent check: it needs the permission to "
                "launch campaigns."
            )
        try:
            message = services.campaign_test_send(
                campaign_id=campaign.pk,
                contact=data.validated_data.get("contact"),
                phone=phone,
                triggered_by=request.user,
            )
        except CampaignError as error:
            raise as_validation_error(error) from error
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=CampaignStatsSerializer)
    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        stats = {
            **campaign_progress(campaign).as_dict(),
            "results": campaign_results(campaign.pk).as_dict(),
        }
        return Response(CampaignStatsSerializer(stats).data)


class MessageFilter(FilterSet):
    class Meta:
        model = Message
        fields = {
            "campaign": ["exact", "isnull"],
            "contact": ["exact"],
            "status": ["exact"],
            "wamid": ["exact"],
            "error_code": ["exact"],
            "created_at": ["gte", "lte"],
        }


class MessageViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The outbound message ledger, and transactional sends of one message to one contact."""

    queryset = Message.objects.order_by("-id")
    serializer_class = MessageSerializer
    filterset_class = MessageFilter

    def get_permissions(self) -> list:
        if self.action == "create":
            return [IsAuthenticated(), CAN_SEND()]
        return super().get_permissions()

    @extend_schema(
        request=MessageCreateSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                location=OpenApiParameter.HEADER,
                required=False,
                description="Retries with the same key and body return the original message; "
                "the same key with another body is refused with 409.",
            )
        ],
        responses={201: MessageSerializer, 409: ErrorResponse409Serializer},
        summary="Send one template message to one contact (idempotent with Idempotency-Key)",
        examples=examples.MESSAGE_CREATE,
    )
    def create(self, request: Request) -> Response:
        idempotency_key = scoped_key(
            caller_id=request.user.pk, key=request.headers.get("Idempotency-Key")
        )
        fingerprint = request_fingerprint(request.data)
        try:
            # First, so a replay costs one lookup and answers as the original did (201).
            replayed = message_replay(idempotency_key=idempotency_key, fingerprint=fingerprint)
        except IdempotencyConflict as error:
            raise Conflict(error.message) from error
        if replayed is not None:
            return Response(MessageSerializer(replayed).data, status=status.HTTP_201_CREATED)
        data = MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        contact = self._contact(values)
        template = values["template"]
        sender = values.get("sender") or template.account.numbers.filter(is_active=True).first()
        if sender is None:
            raise serializers.ValidationError({"sender": ["The account has no active number."]})
        valid_for = values.get("valid_for_seconds")
        try:
            result = message_send_transactional(
                contact=contact,
                template=template,
                sender=sender,
                values=values["parameters"],
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                triggered_by=request.user,
                valid_for=dt.timedelta(seconds=valid_for) if valid_for else None,
            )
        except IdempotencyConflict as error:
            raise Conflict(error.message) from error
        except CampaignError as error:
            raise as_validation_error(error) from error
        # A concurrent duplicate that lost the race is a replay too: the original's answer.
        return Response(MessageSerializer(result.message).data, status=status.HTTP_201_CREATED)

    @staticmethod
    def _contact(values: dict) -> Contact:
        contacts = Contact.objects.filter(erased_at__isnull=True)
        if values.get("contact_id"):
            found = contacts.filter(pk=values["contact_id"]).first()
            field = "contact_id"
        elif values.get("external_id"):
            found = contacts.filter(external_id=values["external_id"]).first()
            field = "external_id"
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
