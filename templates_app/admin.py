"""Admin of the templates app."""

from __future__ import annotations

from django.contrib import admin

from .models import SenderNumber, WhatsAppAccount


class SenderNumberInline(admin.TabularInline):
    model = SenderNumber
    extra = 0
    fields = [
        "phone_number_id",
        "display_phone_number",
        "verified_name",
        "throughput_per_second",
        "quality_rating",
        "messaging_limit_tier",
        "is_active",
    ]


@admin.register(WhatsAppAccount)
class WhatsAppAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "waba_id", "created_at"]
    search_fields = ["name", "waba_id"]
    inlines = [SenderNumberInline]


@admin.register(SenderNumber)
class SenderNumberAdmin(admin.ModelAdmin):
    list_display = [
        "display_phone_number",
        "account",
        "phone_number_id",
        "throughput_per_second",
        "quality_rating",
        "messaging_limit_tier",
        "is_active",
    ]
    list_filter = ["quality_rating", "messaging_limit_tier", "is_active"]
    list_select_related = ["account"]
    search_fields = ["display_phone_number", "phone_number_id", "verified_name"]
