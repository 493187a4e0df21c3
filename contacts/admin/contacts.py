"""Contacts and tags in the admin: search by any phone format, consent at a glance, the 24-hour
service window, erasure. Apps further along add their panels to the contact page (messages
sent, messages received) through config.admin_tools."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from config.admin_tools import DomainErrorsAsMessages, PanelsMixin
from contacts import services
from contacts.admin.forms import ContactForm
from contacts.errors import ContactError
from contacts.models import ConsentAction, ConsentRecord, ConsentScope, Contact, Tag
from contacts.phones import InvalidPhoneNumber, normalise_phone
from whatsapp.base import SERVICE_WINDOW


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


class ConsentTimelineInline(admin.TabularInline):
    """The contact's consent ledger, newest first; records are added, never edited."""

    model = ConsentRecord
    verbose_name = "consent record"
    verbose_name_plural = "consent timeline (newest first)"
    fields = [
        "captured_at",
        "action",
        "scope",
        "in_force",
        "source",
        "evidence",
        "recorded_at",
        "recorded_by",
        "recorded_via",
        "policy_version",
    ]
    readonly_fields = fields
    ordering = ["-captured_at", "-id"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="in force")
    def in_force(self, record: ConsentRecord) -> str:
        """Whether this record is the one that decides the contact's consent now, per kind of
        message: the latest record (by capture time, then id) of that kind or of `all`."""
        latest = _latest_record_per_kind(record.contact)
        decided = [kind for kind, record_id in latest.items() if record_id == record.pk]
        if not decided:
            return "superseded"
        state = "allowed" if record.action == ConsentAction.OPT_IN else "stopped"
        return f"now: {' and '.join(decided)} {state}"


_KINDS = (
    ("marketing", {ConsentScope.MARKETING, ConsentScope.ALL}),
    ("utility", {ConsentScope.UTILITY, ConsentScope.ALL}),
)


def _latest_record_per_kind(contact: Contact) -> dict[str, int]:
    """Computed once per contact page (the inline's rows share the contact object)."""
    latest = getattr(contact, "_latest_consent_per_kind", None)
    if latest is None:
        latest = {}
        records = contact.consent_records.order_by("-captured_at", "-id").values_list("id", "scope")
        for record_id, scope in records:
            for kind, scopes in _KINDS:
                if scope in scopes:
                    latest.setdefault(kind, record_id)
        contact._latest_consent_per_kind = latest
    return latest


class ConsentFilter(admin.SimpleListFilter):
    title = "current consent"
    parameter_name = "consent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("marketing", "Marketing allowed"),
            ("utility", "Utility allowed"),
            ("none", "No consent"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        if self.value() == "marketing":
            return queryset.filter(marketing_consent__isnull=False)
        if self.value() == "utility":
            return queryset.filter(utility_consent__isnull=False)
        if self.value() == "none":
            return queryset.filter(marketing_consent__isnull=True, utility_consent__isnull=True)
        return queryset


class ServiceWindowFilter(admin.SimpleListFilter):
    title = "24-hour service window"
    parameter_name = "window"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Open (wrote in the last 24 h)"), ("closed", "Closed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        since = timezone.now() - SERVICE_WINDOW
        if self.value() == "open":
            return queryset.filter(last_inbound_at__gt=since)
        if self.value() == "closed":
            return queryset.exclude(last_inbound_at__gt=since)
        return queryset


def service_window_text(last_inbound_at: dt.datetime | None, *, now: dt.datetime) -> str:
    """WhatsApp's customer-service window: free-form messages may be sent for 24 hours after
    the person last wrote; outside it, only templates."""
    if last_inbound_at is None:
        return "Closed: this person never wrote to us; only templates can be sent."
    until = last_inbound_at + SERVICE_WINDOW
    shown = timezone.localtime(until).strftime("%Y-%m-%d %H:%M %Z")
    if until <= now:
        return f"Closed since {shown}; only templates can be sent."
    left = until - now
    hours, rest = divmod(int(left.total_seconds()), 3600)
    return f"Open until {shown} ({hours} h {rest // 60:02d} min left): free-form replies allowed."


class ErasedFilter(admin.SimpleListFilter):
    title = "erased"
    parameter_name = "erased"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Active"), ("yes", "Erased")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        if self.value() in {"yes", "no"}:
            return queryset.filter(erased_at__isnull=self.value() == "no")
        return queryset


@admin.register(Contact)
class ContactAdmin(DomainErrorsAsMessages, PanelsMixin, admin.ModelAdmin):
    form = ContactForm
    change_form_template = "admin/contacts/contact/change_form.html"
    # The form checks every value first; a rule only the service can apply (a contact saved
    # with the same phone meanwhile) is shown as a message rather than a server error.
    domain_errors = (ContactError,)
    list_display = [
        "identity",
        "name",
        "external_id",
        "language",
        "marketing_allowed",
        "utility_allowed",
        "created_at",
    ]
    list_filter = [
        ConsentFilter,
        ServiceWindowFilter,
        ErasedFilter,
        "language",
        "tags",
        "created_at",
        ("last_inbound_at", admin.DateFieldListFilter),
    ]
    search_fields = ["phone", "name", "external_id", "wa_id", "whatsapp_user_id"]
    readonly_fields = [
        "wa_id",
        "current_consent",
        "service_window",
        "last_inbound_at",
        "created_at",
        "updated_at",
        "erased_at",
        "erased_by",
    ]
    inlines = [ConsentTimelineInline]
    actions = ["erase_contacts"]
    show_full_result_count = False
    list_per_page = 50

    def get_fieldsets(self, request: HttpRequest, obj: Contact | None = None) -> list:
        fieldsets = [
            (
                None,
                {
                    "fields": [
                        "phone",
                        "returning_after_erasure",
                        "whatsapp_user_id",
                        "name",
                        "external_id",
                        "language",
                        "timezone",
                        "tags",
                        "attributes",
                    ]
                },
            )
        ]
        if obj is not None:
            fieldsets.append(("Consent", {"fields": ["current_consent"]}))
            fieldsets.append(
                ("WhatsApp", {"fields": ["service_window", "last_inbound_at"]}),
            )
            fieldsets.append(
                (
                    "Record",
                    {
                        "fields": [
                            "wa_id",
                            "created_at",
                            "updated_at",
                            "erased_at",
                            "erased_by",
                        ]
                    },
                )
            )
        return fieldsets

    def get_inlines(self, request: HttpRequest, obj: Contact | None) -> list:
        # A new contact has no consent timeline yet.
        return self.inlines if obj is not None else []

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Contact], search_term: str
    ) -> tuple[QuerySet[Contact], bool]:
        # People search numbers the way they write them ("07911 123456"); match the E.164 form.
        try:
            phone = normalise_phone(search_term)
        except (InvalidPhoneNumber, ValueError):
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(phone=phone), False

    def has_change_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        if obj is not None and obj.erased_at:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        # Contacts are erased, never deleted: consent records and messages keep pointing at them.
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contacts.erase_contact")

    @admin.display(description="identity")
    def identity(self, contact: Contact) -> str:
        if contact.erased_at:
            return "(erased)"
        return contact.phone or contact.whatsapp_user_id or ""

    @admin.display(description="marketing", boolean=True)
    def marketing_allowed(self, contact: Contact) -> bool:
        return contact.marketing_consent_id is not None

    @admin.display(description="utility", boolean=True)
    def utility_allowed(self, contact: Contact) -> bool:
        return contact.utility_consent_id is not None

    @admin.display(description="current consent")
    def current_consent(self, contact: Contact) -> str:
        def describe(record_id: int | None) -> str:
            if record_id is None:
                return "not allowed"
            url = reverse("admin:contacts_consentrecord_change", args=[record_id])
            return format_html('allowed by <a href="{}">consent record #{}</a>', url, record_id)

        return format_html(
            "Marketing: {}<br>Utility and authentication: {}",
            describe(contact.marketing_consent_id),
            describe(contact.utility_consent_id),
        )

    @admin.display(description="24-hour service window")
    def service_window(self, contact: Contact) -> str:
        return service_window_text(contact.last_inbound_at, now=timezone.now())

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Recording consent is a write of its own: offered only to those who may add records.
        may_record = (
            request.user.has_perm("contacts.add_consentrecord")
            and unquote(object_id).isdigit()
            and Contact.objects.not_erased().filter(pk=unquote(object_id)).exists()
        )
        extra = {
            **(extra_context or {}),
            "record_consent_url": (
                reverse("admin:contacts_consentrecord_add") + f"?contact={unquote(object_id)}"
                if may_record
                else ""
            ),
        }
        return super().change_view(request, object_id, form_url, extra)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Django quietly ignores an action the user may not run; refusing it says what happened.
        if (
            request.method == "POST"
            and request.POST.get("action") == "erase_contacts"
            and not self.has_erase_permission(request)
        ):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def save_model(
        self, request: HttpRequest, obj: Contact, form: ContactForm, change: bool
    ) -> None:
        values = form.contact_values()
        if change:
            saved = services.contact_update(contact=obj, **values)
        else:
            saved = services.contact_create(**values)
        obj.pk = saved.pk
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Tags were saved by the service; the consent inline is read-only.
        return None

    @admin.action(permissions=["erase"], description="Erase selected contacts (irreversible)")
    def erase_contacts(
        self, request: HttpRequest, queryset: QuerySet[Contact]
    ) -> HttpResponse | None:
        contacts = list(queryset.filter(erased_at__isnull=True))
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "admin/contacts/contact/erase_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Erase contacts?",
                    "opts": self.model._meta,
                    "contacts": contacts,
                    "action_checkbox_name": ACTION_CHECKBOX_NAME,
                },
            )
        erased = 0
        for contact in contacts:
            try:
                services.contact_erase(contact=contact, erased_by=request.user)
                erased += 1
            except ContactError as error:
                self.message_user(request, f"{contact}: {error.message}", messages.WARNING)
        self.message_user(request, f"Erased {erased} contact(s).", messages.SUCCESS)
        return None
