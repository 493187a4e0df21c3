"""Reads and querysets of the templates app.

Language variants: templates with the same name in one account form a *family*, one row per
language. A campaign chooses the family and each contact gets the variant in its language:

1. the exact locale (`pt_BR` for `pt_BR`; `-`/`_` and letter case are ignored);
2. otherwise a variant of the same base language (`pt_PT` or `pt` for a `pt_BR` contact): a
   regional variant of the contact's own language reads better than another language. Among several,
   the bare base language (`pt`) wins, then the first locale in alphabetical order;
3. otherwise the campaign's default language (by the same two steps);
4. otherwise none.

Only sendable (APPROVED) variants are considered by default, so a contact whose variant is paused
or rejected falls back instead of failing at Meta.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from .models import MessageTemplate, TemplateStatus, WhatsAppAccount, normalize_language


def template_list(
    *,
    account: WhatsAppAccount | None = None,
    status: str | None = None,
    category: str | None = None,
    language: str | None = None,
    name: str | None = None,
) -> QuerySet[MessageTemplate]:
    """Templates, optionally filtered; `language` matches `en-US` and `en_US` alike."""
    templates = MessageTemplate.objects.select_related("account")
    if account is not None:
        templates = templates.filter(account=account)
    if status:
        templates = templates.filter(status=status)
    if category:
        templates = templates.filter(category=category)
    if language:
        templates = templates.filter(language__iexact=normalize_language(language))
    if name:
        templates = templates.filter(name=name)
    return templates


def template_family(account: WhatsAppAccount, name: str) -> QuerySet[MessageTemplate]:
    """Every language variant of the template `name` in `account`, by language."""
    return MessageTemplate.objects.filter(account=account, name=name).order_by("language")


def template_is_sendable(template: MessageTemplate) -> bool:
    """True only for APPROVED templates: Meta refuses every other status (132001, 132015,
    132016), so a campaign must not start or keep sending with anything else."""
    return template.status == TemplateStatus.APPROVED


def template_variant_for(
    *,
    account: WhatsAppAccount,
    name: str,
    language: str | None,
    default_language: str,
    sendable_only: bool = True,
) -> MessageTemplate | None:
    """The variant of the family `name` for a contact speaking `language` (see the module
    docstring for the order), or None when the family has no suitable variant."""
    family = template_family(account, name)
    if sendable_only:
        family = family.filter(status=TemplateStatus.APPROVED)
    variants = list(family)
    for wanted in (language, default_language):
        match = _best_variant(variants, wanted)
        if match is not None:
            return match
    return None


def _best_variant(
    variants: Iterable[MessageTemplate], language: str | None
) -> MessageTemplate | None:
    if not language:
        return None
    wanted = _language_key(language)
    base = wanted.split("_", 1)[0]
    same_base = []
    for variant in variants:
        key = _language_key(variant.language)
        if key == wanted:
            return variant
        if key.split("_", 1)[0] == base:
            same_base.append(variant)
    same_base.sort(key=lambda variant: ("_" in variant.language, _language_key(variant.language)))
    return same_base[0] if same_base else None


def _language_key(code: str) -> str:
    return normalize_language(code).lower()


def template_status_history(template: MessageTemplate) -> QuerySet:
    """The status changes of `template`, newest first."""
    return template.status_changes.select_related("changed_by").order_by("-changed_at", "-id")
