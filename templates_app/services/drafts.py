"""Drafts and their submission to Meta for review."""

from __future__ import annotations

import copy
import logging
import re
from functools import partial
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from whatsapp import ProviderError, WhatsAppProvider, get_provider

from .. import placeholders
from ..models import (
    TEMPLATE_NAME_PATTERN,
    MessageTemplate,
    TemplateCategory,
    TemplateParameterFormat,
    TemplateStatus,
    TemplateStatusChange,
    WhatsAppAccount,
    normalize_language,
)
from ..placeholders import Problem
from .errors import TemplateError
from .status import change_status, record_change, status_from_meta

logger = logging.getLogger(__name__)

_REASON_FOLLOWS = "Rejected by Meta on submission; Meta's reason follows with the next sync."
# Meta's locales: a language (`es`, `fil`), optionally with a region (`en_US`, `zh_HK`).
_LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")


def template_create_draft(
    *,
    account: WhatsAppAccount,
    name: str,
    language: str,
    category: str,
    components: list[dict[str, Any]],
    parameter_format: str = TemplateParameterFormat.POSITIONAL,
    created_by: AbstractBaseUser | None = None,
) -> MessageTemplate:
    """A new local DRAFT, checked against Meta's authoring rules (examples are only required
    on submission). Raises TemplateError listing every problem by component."""
    name = (name or "").strip()
    language = normalize_language(language)
    category = (category or "").strip().upper()
    parameter_format = (parameter_format or "").strip().upper()
    components = _normalized_components(components)
    problems = template_definition_problems(
        name=name,
        language=language,
        category=category,
        parameter_format=parameter_format,
        components=components,
        require_examples=False,
    )
    if not problems and _exists(account, name, language):
        problems.append(_duplicate_problem(account, name, language))
    if problems:
        raise TemplateError("The template is not valid.", problems=problems)
    try:
        with transaction.atomic():
            template = MessageTemplate.objects.create(
                account=account,
                name=name,
                language=language,
                category=category,
                parameter_format=parameter_format,
                components=components,
                status=TemplateStatus.DRAFT,
            )
            record_change(
                template,
                from_status="",
                to_status=TemplateStatus.DRAFT,
                source=TemplateStatusChange.Source.DRAFT,
                changed_by=created_by,
            )
    except IntegrityError:
        # Someone created the same name and language in between.
        raise TemplateError(
            "The template is not valid.", problems=[_duplicate_problem(account, name, language)]
        ) from None
    return template


def template_update_draft(
    *,
    template: MessageTemplate,
    category: str,
    components: list[dict[str, Any]],
    parameter_format: str,
) -> MessageTemplate:
    """Change a DRAFT's content. Submitted templates are edited on Meta, not here."""
    category = (category or "").strip().upper()
    parameter_format = (parameter_format or "").strip().upper()
    components = _normalized_components(components)
    problems = template_definition_problems(
        name=template.name,
        language=template.language,
        category=category,
        parameter_format=parameter_format,
        components=components,
        require_examples=False,
    )
    if problems:
        raise TemplateError("The template is not valid.", problems=problems)
    with transaction.atomic():
        updated = MessageTemplate.objects.filter(
            pk=template.pk, status=TemplateStatus.DRAFT
        ).update(
            category=category,
            parameter_format=parameter_format,
            components=components,
            updated_at=timezone.now(),
        )
    if not updated:
        raise TemplateError(f"Only drafts can be edited; {template} has been submitted to Meta.")
    template.refresh_from_db()
    return template


def template_submit(
    *,
    template: MessageTemplate,
    submitted_by: AbstractBaseUser | None = None,
    provider: WhatsAppProvider | None = None,
) -> MessageTemplate:
    """Submit a DRAFT to Meta for review and store Meta's id, status and category.

    The row stays locked during Meta's answer so that two people submitting the same draft at
    once create it on Meta only once (the second sees it is no longer a draft). If Meta accepted
    but this transaction fails, the draft stays a draft and Meta reports a duplicate on the next
    attempt; the next sync links the two.

    Raises TemplateError with the rule problems, or with Meta's readable message when Meta refuses
    (bad name, duplicate, invalid example...). Nothing is stored in either case.

    Meta may answer a creation with REJECTED (e.g. it disagrees with the category). That answer
    carries no reason (cloud-api.md 4.1: id, status and category), so a sync of the account is
    enqueued after commit: Meta's listing has the `rejected_reason` it stores on the template.
    """
    from .. import tasks  # tasks import the services

    provider = provider or get_provider()
    with transaction.atomic():
        locked = (
            MessageTemplate.objects.select_for_update(of=("self",))
            .select_related("account")
            .get(pk=template.pk)
        )
        if locked.status != TemplateStatus.DRAFT:
            raise TemplateError(
                f"Only drafts can be submitted; {locked} is {locked.get_status_display()}."
            )
        problems = template_definition_problems(
            name=locked.name,
            language=locked.language,
            category=locked.category,
            parameter_format=locked.parameter_format,
            components=locked.components,
            require_examples=True,
        )
        if problems:
            raise TemplateError("The template cannot be submitted yet.", problems=problems)
        try:
            created = provider.create_template(
                locked.account.waba_id,
                name=locked.name,
                language=locked.language,
                category=locked.category,
                components=locked.components,
                parameter_format=locked.parameter_format,
            )
        except ProviderError as error:
            logger.info("Meta refused template %s: %r", locked, error)
            raise TemplateError(
                f"Meta refused the template: {error.readable_message}", provider_error=error
            ) from error
        locked.meta_template_id = created.id
        if created.category in TemplateCategory.values:
            locked.category = created.category
        locked.save(update_fields=["meta_template_id", "category", "updated_at"])
        status = status_from_meta(created.status)
        rejected = status == TemplateStatus.REJECTED
        change_status(
            locked,
            status,
            source=TemplateStatusChange.Source.SUBMIT,
            reason=_REASON_FOLLOWS if rejected else "",
            changed_by=submitted_by,
        )
        if rejected:
            transaction.on_commit(partial(tasks.sync_account_templates.delay, locked.account_id))
    return locked


def template_definition_problems(
    *,
    name: str,
    language: str,
    category: str,
    parameter_format: str,
    components: Any,
    require_examples: bool,
) -> list[Problem]:
    """Every rule a template definition breaks (name, language, category, format, components);
    the same check drafts and submissions go through, for forms that want to show it early."""
    problems = []
    if not re.match(TEMPLATE_NAME_PATTERN, name):
        problems.append(
            Problem(
                "name",
                "Use 1 to 512 lowercase letters, digits and underscores, like order_update.",
            )
        )
    if not _LANGUAGE_PATTERN.match(language):
        problems.append(
            Problem("language", "Use one of Meta's language codes, like en_US, pt_BR or es.")
        )
    if category not in TemplateCategory.values:
        problems.append(Problem("category", "Choose MARKETING, UTILITY or AUTHENTICATION."))
    if parameter_format not in TemplateParameterFormat.values:
        problems.append(Problem("parameter_format", "Choose POSITIONAL or NAMED."))
        return problems
    problems += placeholders.validate_components(
        components,
        parameter_format,
        category=category,
        require_examples=require_examples,
    )
    return problems


def template_definition_warnings(
    *, components: Any, parameter_format: str, category: str = ""
) -> list[Problem]:
    """Risks of Meta refusing the definition on submission that Meta publishes no rule for
    (see `placeholders.check_components`); they never block saving or submitting."""
    return placeholders.check_components(components, parameter_format, category=category).warnings


def template_warnings(template: MessageTemplate) -> list[Problem]:
    """The warnings of a draft, for its author; none once Meta has reviewed the template."""
    if template.status != TemplateStatus.DRAFT:
        return []
    return template_definition_warnings(
        components=template.components,
        parameter_format=template.parameter_format,
        category=template.category,
    )


def _exists(account: WhatsAppAccount, name: str, language: str) -> bool:
    return MessageTemplate.objects.filter(
        account=account, name=name, language__iexact=language
    ).exists()


def _duplicate_problem(account: WhatsAppAccount, name: str, language: str) -> Problem:
    return Problem("name", f"{account.name} already has a template {name} in {language}.")


def _normalized_components(components: Any) -> Any:
    """Meta's listing shape: component `type`, header `format` and button `type` in uppercase."""
    if not isinstance(components, list):
        return components
    normalized = copy.deepcopy(components)
    for component in normalized:
        if not isinstance(component, dict):
            continue
        for key in ("type", "format"):
            if isinstance(component.get(key), str):
                component[key] = component[key].strip().upper()
        for button in component.get("buttons") or []:
            if isinstance(button, dict) and isinstance(button.get("type"), str):
                button["type"] = button["type"].strip().upper()
    return normalized
