"""Contacts API: contacts (with bulk upsert and erasure), their consent ledger, segments, imports.

Views are thin: they check shapes with serializers, call one service or selector, and turn a
`ContactError` into a 400 naming the field. Consent records have no update or delete verbs.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authentication import TokenAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from config.api.errors import PayloadTooLarge
from config.api.permissions import requires_permissions
from config.api.schema import ErrorResponse413Serializer
from contacts import services
from contacts.api import examples
from contacts.api.filters import (
    ConsentRecordFilter,
    ContactFilter,
    ContactImportFilter,
    SegmentFilter,
)
from contacts.api.serializers import (
    BulkUpsertInputSerializer,
    BulkUpsertOutputSerializer,
    ConsentInputSerializer,
    ConsentRecordSerializer,
    ContactImportInputSerializer,
    ContactImportSerializer,
    ContactInputSerializer,
    ContactSerializer,
    SegmentCountSerializer,
    SegmentDefinitionSerializer,
    SegmentSerializer,
)
from contacts.csv_files import rejected_rows_csv
from contacts.errors import ContactError
from contacts.models import ConsentAction, ConsentRecord, Contact, ContactImport, Segment
from contacts.selectors import segment_contacts


def validation_error(error: ContactError) -> serializers.ValidationError:
    if error.field:
        return serializers.ValidationError({error.field: [error.message]}, code=error.code)
    return serializers.ValidationError([error.message], code=error.code)


def recorded_via(request: Request) -> str:
    if isinstance(request.successful_authenticator, TokenAuthentication):
        return "API token"
    return "API session"


class ContactViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Contacts. There is no DELETE: use `erase` (contacts stay, anonymous, for the audit)."""

    queryset = Contact.objects.prefetch_related("tags").order_by("-id")
    serializer_class = ContactSerializer
    filterset_class = ContactFilter

    @extend_schema(
        request=ContactInputSerializer,
        responses={201: ContactSerializer},
        examples=examples.CONTACT_CREATE,
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self._input(request, partial=False)
        try:
            contact = services.contact_create(**data)
        except ContactError as error:
            raise validation_error(error) from error
        return Response(self._output(contact), status=status.HTTP_201_CREATED)

    @extend_schema(request=ContactInputSerializer, responses={200: ContactSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        contact = self.get_object()
        data = self._input(request, partial=kwargs.get("partial", False))
        try:
            contact = services.contact_update(contact=contact, **data)
        except ContactError as error:
            raise validation_error(error) from error
        return Response(self._output(contact))

    @extend_schema(
        request=BulkUpsertInputSerializer,
        responses={200: BulkUpsertOutputSerializer},
        summary="Create or update up to 1,000 contacts, with one result per item",
        examples=examples.BULK_UPSERT,
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="bulk-upsert",
        permission_classes=[
            IsAuthenticated,
            requires_permissions("contacts.add_contact", "contacts.change_contact"),
        ],
    )
    def bulk_upsert(self, request: Request) -> Response:
        payload = BulkUpsertInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        items = payload.validated_data["contacts"]
        if any(item.get("consent") for item in items) and not request.user.has_perm(
            "contacts.add_consentrecord"
        ):
            raise PermissionDenied(
                "Items with consent append to the consent ledger, which needs the "
                "contacts.add_consentrecord permission."
            )
        outcomes = services.contacts_bulk_upsert(
            items=items,
            recorded_by=request.user,
            recorded_via=recorded_via(request),
        )
        counts = Counter(outcome.outcome for outcome in outcomes)
        body = {
            "results": outcomes,
            "counts": {
                name: counts[name]
                for name in ("created", "updated", "unchanged", "merged", "rejected")
            },
        }
        return Response(BulkUpsertOutputSerializer(body).data)

    @extend_schema(
        request=None,
        responses={200: ContactSerializer},
        summary="Erase a contact (GDPR): irreversible anonymisation",
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAuthenticated, requires_permissions("contacts.erase_contact")],
    )
    def erase(self, request: Request, pk: str) -> Response:
        contact = self.get_object()
        try:
            contact = services.contact_erase(contact=contact, erased_by=request.user)
        except ContactError as error:
            raise validation_error(error) from error
        return Response(self._output(contact))

    def _input(self, request: Request, *, partial: bool) -> dict[str, Any]:
        serializer = ContactInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _output(self, contact: Contact) -> dict[str, Any]:
        return ContactSerializer(Contact.objects.prefetch_related("tags").get(pk=contact.pk)).data


class ContactConsentViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """A contact's consent ledger, newest first. Append-only: list and create, nothing else."""

    serializer_class = ConsentRecordSerializer
    queryset = ConsentRecord.objects.select_related("recorded_by")
    filterset_class = ConsentRecordFilter

    def get_queryset(self) -> QuerySet[ConsentRecord]:
        return super().get_queryset().filter(contact=self.contact).order_by("-captured_at", "-id")

    @property
    def contact(self) -> Contact:
        if not hasattr(self, "_contact"):
            self._contact = get_object_or_404(Contact, pk=self.kwargs["contact_pk"])
        return self._contact

    @extend_schema(
        request=ConsentInputSerializer,
        responses={201: ConsentRecordSerializer},
        summary="Record an opt-in or opt-out (appended to the ledger)",
        examples=examples.CONSENT_CREATE,
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = ConsentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        recorder = (
            services.consent_record_opt_in
            if data.pop("action") == ConsentAction.OPT_IN
            else services.consent_record_opt_out
        )
        try:
            record = recorder(
                contact=self.contact,
                recorded_by=request.user,
                recorded_via=recorded_via(request),
                ip_address=request.META.get("REMOTE_ADDR"),
                user_agent=request.headers.get("user-agent", ""),
                **data,
            )
        except ContactError as error:
            raise validation_error(error) from error
        return Response(ConsentRecordSerializer(record).data, status=status.HTTP_201_CREATED)


class SegmentViewSet(viewsets.ModelViewSet):
    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer
    filterset_class = SegmentFilter

    def perform_create(self, serializer: SegmentSerializer) -> None:
        try:
            serializer.instance = services.segment_create(
                created_by=self.request.user, **serializer.validated_data
            )
        except ContactError as error:
            raise validation_error(error) from error

    def perform_update(self, serializer: SegmentSerializer) -> None:
        try:
            serializer.instance = services.segment_update(
                segment=serializer.instance, **serializer.validated_data
            )
        except ContactError as error:
            raise validation_error(error) from error

    def perform_destroy(self, instance: Segment) -> None:
        try:
            services.segment_delete(segment=instance)
        except ContactError as error:
            raise validation_error(error) from error

    @extend_schema(responses={200: SegmentCountSerializer}, summary="How many contacts match now")
    @action(detail=True, methods=["get"])
    def count(self, request: Request, pk: str) -> Response:
        return Response({"count": segment_contacts(self.get_object()).count()})

    @extend_schema(
        request=SegmentDefinitionSerializer,
        responses={200: SegmentCountSerializer},
        summary="How many contacts a definition matches now, without saving it",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="preview-count",
        permission_classes=[IsAuthenticated, requires_permissions("contacts.view_segment")],
    )
    def preview_count(self, request: Request) -> Response:
        payload = SegmentDefinitionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            definition = services.segment_check_definition(**payload.validated_data)
        except ContactError as error:
            raise validation_error(error) from error
        return Response({"count": segment_contacts(Segment(**definition)).count()})


class ContactImportViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """CSV imports: upload a file (multipart, field `file`), then follow its progress."""

    queryset = ContactImport.objects.select_related("uploaded_by")
    serializer_class = ContactImportSerializer
    filterset_class = ContactImportFilter
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request=ContactImportInputSerializer,
        responses={201: ContactImportSerializer, 413: ErrorResponse413Serializer},
        summary="Upload a CSV file to import (multipart, field `file`)",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = ContactImportInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        upload = payload.validated_data["file"]
        try:
            contact_import = services.contact_import_create(
                file=upload,
                file_name=upload.name,
                uploaded_by=request.user,
                default_region=payload.validated_data.get("default_region"),
            )
        except ContactError as error:
            if error.code == "file_too_large":
                raise PayloadTooLarge(error.message) from error
            raise validation_error(error) from error
        contact_import.refresh_from_db()
        return Response(
            ContactImportSerializer(contact_import).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        responses={200: OpenApiResponse(description="CSV: row, the file's columns, reason")},
        summary="The rejected rows as CSV, with a reason column",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="rejected-rows",
        permission_classes=[
            IsAuthenticated,
            requires_permissions("contacts.view_contactimportrejectedrow"),
        ],
    )
    def rejected_rows(self, request: Request, pk: str) -> StreamingHttpResponse:
        contact_import = self.get_object()
        return StreamingHttpResponse(rejected_rows_csv(contact_import), content_type="text/csv")
