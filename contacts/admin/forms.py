"""Admin forms: every value goes through the same checks as the API and the import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms

from contacts import validation
from contacts.errors import ContactError
from contacts.models import (
    ConsentAction,
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    Contact,
    Segment,
)
from contacts.phones import is_valid_region
from contacts.selectors import phone_was_erased
from contacts.services import segment_check_definition


def checked(check: Callable[[Any], Any], value: Any) -> Any:
    """Run a `contacts.validation` check, turning its `ContactError` into a form error."""
    try:
        return check(value)
    except ContactError as error:
        raise forms.ValidationError(error.message, code=error.code) from None


class TagsField(forms.CharField):
    """Tags typed as one line: ``vip, newsletter``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated, e.g. vip, newsletter.")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> str:
        return ", ".join(value) if isinstance(value, list | tuple) else value or ""

    def clean(self, value: Any) -> list[str]:
        return checked(validation.tag_names, super().clean(value))


class ContactForm(forms.ModelForm):
    tags = TagsField()
    returning_after_erasure = forms.BooleanField(
        required=False,
        label="Added again at the person's request",
        help_text="Needed only for a number whose contact was erased before.",
    )

    class Meta:
        model = Contact
        fields = [
            "phone",
            "whatsapp_user_id",
            "name",
            "external_id",
            "language",
            "timezone",
            "attributes",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tags"] = list(self.instance.tags.values_list("name", flat=True))

    def clean_phone(self) -> str | None:
        value = self.cleaned_data.get("phone")
        return checked(validation.phone, value) if value else None

    def clean_name(self) -> str:
        return checked(
            lambda value: validation.optional_text(value, field="name", max_length=200),
            self.cleaned_data.get("name"),
        )

    def clean_attributes(self) -> dict[str, Any]:
        return checked(validation.attributes, self.cleaned_data.get("attributes"))

    def clean_whatsapp_user_id(self) -> str | None:
        return checked(validation.whatsapp_user_id, self.cleaned_data.get("whatsapp_user_id"))

    def clean_external_id(self) -> str | None:
        return checked(validation.external_id, self.cleaned_data.get("external_id"))

    def clean_language(self) -> str:
        return checked(validation.language, self.cleaned_data.get("language"))

    def clean_timezone(self) -> str:
        return checked(validation.timezone_name, self.cleaned_data.get("timezone"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        phone = cleaned.get("phone")
        if not phone and not cleaned.get("whatsapp_user_id"):
            self.add_error("phone", "A contact needs a phone number.")
        elif (
            phone
            and phone != self.instance.phone
            and not cleaned.get("returning_after_erasure")
            and phone_was_erased(phone)
        ):
            self.add_error(
                "phone",
                "This number belonged to a contact who was erased at their request. Add it again "
                "only if the person asked to be added, and tick the box below to confirm.",
            )
        return cleaned

    def contact_values(self) -> dict[str, Any]:
        """The cleaned values as `contact_create` / `contact_update` take them."""
        fields = [*self.Meta.fields, "tags", "returning_after_erasure"]
        return {name: self.cleaned_data[name] for name in fields}


class ConsentRecordForm(forms.ModelForm):
    """Records one opt-in or opt-out; the admin never edits an existing record."""

    class Meta:
        model = ConsentRecord
        fields = [
            "contact",
            "action",
            "scope",
            "source",
            "evidence",
            "captured_at",
            "policy_version",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "source" in self.fields:  # the add form; existing records are shown read-only
            self.fields["source"].initial = ConsentSource.ADMIN
            self.fields["scope"].initial = ConsentScope.MARKETING

    def clean_captured_at(self) -> Any:
        return checked(validation.captured_at, self.cleaned_data.get("captured_at"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("action") == ConsentAction.OPT_IN:
            if not (cleaned.get("evidence") or "").strip():
                self.add_error(
                    "evidence",
                    "An opt-in needs evidence: the form id, URL, screenshot reference or message "
                    "id that proves it.",
                )
            contact = cleaned.get("contact")
            if contact and contact.erased_at:
                self.add_error("contact", "This contact was erased and can never be messaged.")
        return cleaned


class ConsentAuditFilterForm(forms.Form):
    captured_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    captured_to = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Inclusive.",
    )
    scope = forms.ChoiceField(choices=[("", "Any"), *ConsentScope.choices], required=False)
    action = forms.ChoiceField(choices=[("", "Any"), *ConsentAction.choices], required=False)
    source = forms.ChoiceField(choices=[("", "Any"), *ConsentSource.choices], required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("captured_from"), cleaned.get("captured_to")
        if start and end and start > end:
            self.add_error("captured_to", "The end of the range is before its start.")
        return cleaned


class ContactImportForm(forms.Form):
    file = forms.FileField(help_text="A CSV file with a header row that has a 'phone' column.")
    default_region = forms.CharField(
        max_length=2,
        help_text="Country for numbers written without a country code (ISO code such as GB).",
    )

    def clean_default_region(self) -> str:
        region = self.cleaned_data["default_region"].strip().upper()
        if not is_valid_region(region):
            raise forms.ValidationError(f"{region!r} is not a country code such as GB or US.")
        return region


class SegmentForm(forms.ModelForm):
    tags_any = TagsField(label="Has any of these tags")
    tags_all = TagsField(label="Has all of these tags")
    languages = forms.CharField(
        required=False, help_text="Comma-separated locales: en_GB, pt_BR, or a bare 'pt'."
    )

    class Meta:
        model = Segment
        fields = [
            "name",
            "description",
            "tags_any",
            "tags_all",
            "languages",
            "attribute_rules",
            "created_after",
            "created_before",
            "required_consent",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["languages"] = ", ".join(self.instance.languages or [])

    def clean_languages(self) -> list[str]:
        value = self.cleaned_data.get("languages") or ""
        return [locale.strip() for locale in value.split(",") if locale.strip()]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        definition = {name: cleaned[name] for name in self.Meta.fields if name in cleaned}
        try:
            self.definition = segment_check_definition(**definition)
        except ContactError as error:
            self.add_error(error.field if error.field in self.fields else None, error.message)
        return cleaned
