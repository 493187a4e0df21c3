"""Templates API: list, retrieve, create draft, submit, sync and preview."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from config.api.filters import FilterSet
from config.api.permissions import requires_permissions
from templates_app import placeholders, selectors, services
from templates_app.models import (
    MessageTemplate,
    TemplateCategory,
    TemplateStatus,
    normalize_language,
)
from templates_app.rendering import render, validate_values

from . import examples
from .serializers import (
    DraftInputSerializer,
    MessageTemplateSerializer,
    PreviewInputSerializer,
    PreviewOutputSerializer,
    StatusChangeSerializer,
    SyncOutputSerializer,
)


def validation_error(error: services.TemplateError) -> serializers.ValidationError:
    """A TemplateError as a 400: per-field errors (`components.body`...) for broken rules, one
    general error for the rest (Meta's refusal, a template that is not a draft)."""
    if not error.problems:
        code = "meta_rejected" if error.provider_error is not None else "invalid"
        return serializers.ValidationError([error.message], code=code)
    by_field: dict[str, Any] = defaultdict(list)
    components: dict[str, list[str]] = defaultdict(list)
    for problem in error.problems:
        if problem.component in ("name", "language", "category", "parameter_format"):
            by_field[problem.component].append(problem.message)
        else:
            components[problem.component].append(problem.message)
    if components:
        by_field["components"] = dict(components)
    return serializers.ValidationError(dict(by_field))


class MessageTemplateFilter(FilterSet):
    status = django_filters.ChoiceFilter(choices=TemplateStatus.choices)
    category = django_filters.ChoiceFilter(choices=TemplateCategory.choices)
    language = django_filters.CharFilter(method="filter_language")
    name = django_filters.CharFilter(help_text="The exact template name, e.g. order_update.")
    # Named like the campaigns API's `name__icontains`, so one search works for both lists.
    name__icontains = django_filters.CharFilter(
        field_name="name",
        lookup_expr="icontains",
        help_text="Templates whose name contains this text, ignoring case (`ORDER` finds "
        "order_update and reorder_reminder).",
    )
    waba_id = django_filters.CharFilter(field_name="account__waba_id")

    class Meta:
        model = MessageTemplate
        fields = ["account", "status", "category", "language", "name", "name__icontains", "waba_id"]

    def filter_language(self, queryset: Any, name: str, value: str) -> Any:
        # Meta writes locales both as en_US and en-US.
        return queryset.filter(language__iexact=normalize_language(value))


class MessageTemplateViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Templates mirrored from Meta and local drafts.

    Creating makes a DRAFT (checked against Meta's rules); `submit` sends a draft to Meta for
    review; `sync` pulls every account's templates from Meta now; `preview` renders a template
    with values and lists what would stop Meta from accepting a send.
    """

    serializer_class = MessageTemplateSerializer
    filterset_class = MessageTemplateFilter

    def get_queryset(self) -> Any:
        return selectors.template_list().order_by("name", "language", "pk")

    @extend_schema(request=DraftInputSerializer, responses={201: MessageTemplateSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = DraftInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            template = services.template_create_draft(
                **data.validated_data, created_by=request.user
            )
        except services.TemplateError as error:
            raise validation_error(error) from error
        return Response(MessageTemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: MessageTemplateSerializer})
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[
            IsAuthenticated,
            requires_permissions("templates_app.change_messagetemplate"),
        ],
    )
    def submit(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        try:
            template = services.template_submit(template=template, submitted_by=request.user)
        except services.TemplateError as error:
            raise validation_error(error) from error
        return Response(MessageTemplateSerializer(template).data)

    @extend_schema(request=None, responses={200: SyncOutputSerializer})
    @action(
        detail=False,
        methods=["post"],
        permission_classes=[
            IsAuthenticated,
            requires_permissions(
                "templates_app.add_messagetemplate", "templates_app.change_messagetemplate"
            ),
        ],
    )
    def sync(self, request: Request) -> Response:
        results = services.template_sync()
        return Response(SyncOutputSerializer({"accounts": results}).data)

    @extend_schema(
        request=PreviewInputSerializer,
        responses={200: PreviewOutputSerializer},
        summary="Render the template with values, and list what Meta would refuse",
        examples=examples.PREVIEW,
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[
            IsAuthenticated,
            requires_permissions("templates_app.view_messagetemplate"),
        ],
    )
    def preview(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        data = PreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, str] = {}
        if data.validated_data["use_examples"]:
            values.update(
                placeholders.example_values(template.components, template.parameter_format)
            )
        values.update(data.validated_data["values"])
        rendered = render(template, values)
        output = {
            "values": values,
            "rendered": {**asdict(rendered), "text": rendered.text},
            "errors": validate_values(template, values),
            "warnings": [str(problem) for problem in services.template_warnings(template)],
            "is_sendable": selectors.template_is_sendable(template),
        }
        return Response(PreviewOutputSerializer(output).data)

    @extend_schema(
        request=None,
        responses={200: StatusChangeSerializer(many=True)},
        summary="The template's status changes, newest first (paginated)",
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        page = self.paginate_queryset(selectors.template_status_history(template))
        return self.get_paginated_response(StatusChangeSerializer(page, many=True).data)
