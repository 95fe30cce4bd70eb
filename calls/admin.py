"""CallAdmin: the calls list and call page an operator reviews (status, audio, transcript, extracted data).

Everything on a call is written by Twilio or the pipeline, so the call page is read-only: saving it would write
back stale values over what the pipeline stores meanwhile. Calls are created by placing them, never typed in.
"""
import json

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from calls.exports import (
    XLSX_CONTENT_TYPE, call_history_csv, call_history_xlsx, export_filename, format_duration,
)
from calls.filters import filter_extracted_value, filter_phone_number
from calls.models import Call, CallEvent
from calls.recordings import recording_url_name
from calls.transcript_turns import conversation_turns, transcript_turns

PHONE_LIKE = frozenset("0123456789 +-().")


class CallEventInline(admin.TabularInline):
    model = CallEvent
    fields = ("at", "kind", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "timeline event"
    verbose_name_plural = "timeline"

    def has_add_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = (
        "contact_display", "status_badge", "end_reason", "answered_by", "created_at", "duration_display",
        "extracted_summary",
    )
    list_filter = ("status", "end_reason", ("created_at", admin.DateFieldListFilter))
    date_hierarchy = "created_at"
    search_fields = ("phone_number", "contact__phone_number", "contact__name", "twilio_sid")
    search_help_text = "Phone number (any format), name, call SID, or any extracted value."
    list_select_related = ("contact",)
    list_per_page = 50
    actions = ["export_xlsx", "export_csv"]
    inlines = [CallEventInline]
    fieldsets = (
        (None, {"fields": ("contact", "phone_number", "status_badge", "end_reason", "answered_by", "error")}),
        ("Timing", {"fields": ("created_at", "answered_at", "ended_at", "duration_display")}),
        ("Recording", {"fields": ("audio_player",)}),
        ("Conversation", {"fields": ("final_transcript", "live_transcript_display")}),
        ("Extracted data", {"fields": ("extracted_table", "extraction_error")}),
        ("Twilio", {"classes": ("collapse",), "fields": ("twilio_sid", "stream_sid", "code", "status_sequence")}),
        ("Processing", {"classes": ("collapse",), "fields": ("processing_json", "token_usage_json", "metrics_json")}),
    )
    readonly_fields = (
        "contact", "phone_number", "status_badge", "end_reason", "answered_by", "error", "created_at",
        "answered_at", "ended_at", "duration_display", "audio_player", "final_transcript", "live_transcript_display",
        "extracted_table", "extraction_error", "twilio_sid", "stream_sid", "code", "status_sequence",
        "processing_json", "token_usage_json", "metrics_json",
    )

    class Media:
        css = {"all": ("calls/admin.css",)}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        # The list keeps change rights (so actions work); a single call opens as a read-only view.
        return obj is None and super().has_change_permission(request)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            results |= filter_extracted_value(queryset, term)
            if set(term) <= PHONE_LIKE:
                results |= filter_phone_number(queryset, term)
        return results, may_have_duplicates

    # List columns

    @admin.display(description="Contact", ordering="contact__phone_number")
    def contact_display(self, call: Call) -> str:
        return str(call.contact)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, call: Call) -> SafeString:
        label = call.get_status_display()
        return format_html('<span class="call-status call-status--{}">{}</span>', call.status, label)

    @admin.display(description="Duration", ordering="duration")
    def duration_display(self, call: Call) -> str:
        return format_duration(call.duration) or "–"

    @admin.display(description="Extracted data")
    def extracted_summary(self, call: Call) -> str:
        data = call.extracted_data if isinstance(call.extracted_data, dict) else {}
        parts = [f"{_title(key)}: {value}" for key, value in data.items() if value not in (None, "", [], {})]
        return Truncator(" · ".join(parts)).chars(90) or "–"

    # Call page

    @admin.display(description="Recording")
    def audio_player(self, call: Call) -> SafeString | str:
        name = recording_url_name(call)
        if name is None:
            return "Deleted" if call.recording_deleted_at else "No recording"
        url = reverse("recording", kwargs={"name": name})
        player = '<audio class="call-audio" controls preload="metadata" src="{}"></audio>'
        return format_html(player + ' <a href="{}" download>Download</a>', url, url)

    @admin.display(description="Transcript")
    def final_transcript(self, call: Call) -> SafeString:
        turns = transcript_turns(call.transcript) or conversation_turns(call.conversation)
        return _render_turns(turns, empty="Not transcribed yet.")

    @admin.display(description="Live transcript")
    def live_transcript_display(self, call: Call) -> SafeString:
        return _render_turns(transcript_turns(call.live_transcript), empty="Nothing heard.")

    @admin.display(description="Extracted fields")
    def extracted_table(self, call: Call) -> SafeString | str:
        data = call.extracted_data if isinstance(call.extracted_data, dict) else {}
        if not data:
            return "–"
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", ((_title(k), v) for k, v in data.items()))
        return format_html('<table class="call-extracted">{}</table>', rows)

    @admin.display(description="Processing")
    def processing_json(self, call: Call) -> SafeString:
        return _pretty_json(call.processing)

    @admin.display(description="Token usage")
    def token_usage_json(self, call: Call) -> SafeString:
        return _pretty_json(call.token_usage)

    @admin.display(description="Metrics")
    def metrics_json(self, call: Call) -> SafeString:
        return _pretty_json(call.metrics)

    # Actions

    @admin.action(description="Export selected calls to Excel (.xlsx)", permissions=["view"])
    def export_xlsx(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return _download(call_history_xlsx(queryset.select_related("contact")), XLSX_CONTENT_TYPE, "xlsx")

    @admin.action(description="Export selected calls to CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return _download(call_history_csv(queryset.select_related("contact")), "text/csv; charset=utf-8", "csv")


def _render_turns(turns: list[dict], *, empty: str) -> SafeString:
    return render_to_string("admin/calls/call/transcript.html", {"turns": turns, "empty": empty})


def _pretty_json(value: object) -> SafeString:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False)) if value else "–"


def _title(key: str) -> str:
    return str(key).replace("_", " ").capitalize()


def _download(content: bytes, content_type: str, extension: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{export_filename(extension)}"'
    return response
