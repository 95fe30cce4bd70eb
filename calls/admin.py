"""CallAdmin: the calls list and call page an operator reviews (status, audio, transcript, extracted data).

Everything on a call is written by Twilio or the pipeline, so the call page is read-only: saving it would write
back stale values over what the pipeline stores meanwhile. Calls are created by placing them, never typed in.
"""
import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from calls.exports import (
    XLSX_CONTENT_TYPE, call_history_csv, call_history_xlsx, export_filename, format_duration,
)
from calls.filters import filter_extracted_value, filter_phone_number
from calls.exceptions import CallError
from calls.models import Call, CallEvent, CallStatus, EndReason
from calls.recordings import recording_url_name
from calls.services import call_hang_up
from calls.transcript_turns import conversation_turns, transcript_turns

PHONE_LIKE = frozenset("0123456789 +-().")
LIVE_STATUS_MAX = 200  # ids per poll: more than a page of the list (list_per_page)
LIVE_FIELDS = ("pk", "status", "duration", "end_reason", "answered_by")


class CallEventInline(admin.TabularInline):
    """The call's timeline in words ("Ringing", "Audio connected"), not event codes and JSON."""

    model = CallEvent
    fields = ("time", "what", "details")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "timeline event"
    verbose_name_plural = "timeline"

    def has_add_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    @admin.display(description="Time")
    def time(self, event: CallEvent) -> str:
        return f"{timezone.localtime(event.at):%H:%M:%S}"

    @admin.display(description="What happened")
    def what(self, event: CallEvent) -> str:
        status = event.detail.get("status") if isinstance(event.detail, dict) else None
        if event.kind == "status" and status in CallStatus.values:
            return CallStatus(status).label
        return EVENT_LABELS.get(event.kind, event.kind)

    @admin.display(description="Details")
    def details(self, event: CallEvent) -> str:
        if not isinstance(event.detail, dict):
            return str(event.detail or "") or "–"
        parts = []
        for key, value in event.detail.items():
            shown_as_what = event.kind == "status" and key == "status"
            if value in (None, "", [], {}) or key in EVENT_DETAILS_HIDDEN or shown_as_what:
                continue
            if key == "duration" and isinstance(value, int | float):
                value = format_duration(value)
            elif key == "end_reason" and value in EndReason.values:
                value = EndReason(value).label
            parts.append(f"{EVENT_DETAIL_NAMES.get(key) or _title(key)}: {value}")
        return " · ".join(parts) or "–"


# Staff-facing names of CallEvent kinds; an unknown kind is shown as it is stored.
EVENT_LABELS = {
    "dialled": "Sent to Twilio", "dial_failed": "Twilio refused the call", "amd": "Answering-machine check",
    "stream_started": "Audio connected", "stream_ended": "Audio disconnected",
    "hangup_requested": "Staff asked to hang up", "say_and_hangup": "Said goodbye and hung up",
    "hang_up": "The bot hung up", "barge_in": "The callee interrupted", "dtmf": "Key pressed",
    "ai_error": "AI service error", "ai_unavailable": "AI service unavailable", "failed": "Failed",
    "recording_uploaded": "Recording uploaded", "recording_deleted": "Recording deleted",
}
EVENT_DETAILS_HIDDEN = frozenset({"sequence_number"})
EVENT_DETAIL_NAMES = {"sid": "Call SID", "stream_sid": "Stream SID"}


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
    actions = ["export_xlsx", "export_csv", "hang_up"]
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
        js = ("calls/live_status.js",)

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

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return super().changelist_view(request, {"title": "Calls", **(extra_context or {})})

    # List columns

    @admin.display(description="Contact", ordering="contact__phone_number")
    def contact_display(self, call: Call) -> str:
        return str(call.contact)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, call: Call) -> SafeString:
        label = call.get_status_display()
        if not call.is_final:
            # live_status.js refreshes badges that carry the call's id, until the call ends.
            badge = ('<span class="call-status call-status--{}" data-live-call="{}" data-live-url="{}" '
                     'title="Updates by itself">{}</span>')
            return format_html(badge, call.status, call.pk, reverse("admin:calls_call_live_status"), label)
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

    # Live status (polled by static/calls/live_status.js on the calls list)

    def get_urls(self):
        live = self.admin_site.admin_view(self.live_status_view)
        return [path("live-status/", live, name="calls_call_live_status"), *super().get_urls()]

    def live_status_view(self, request: HttpRequest) -> JsonResponse:
        """`{"calls": {id: {status, label, final, duration, end_reason, answered_by}}}` for `?ids=1,2,3`."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        ids = [int(value) for value in request.GET.get("ids", "").split(",")[:LIVE_STATUS_MAX] if value.isdigit()]
        calls = Call.objects.filter(pk__in=ids).only(*LIVE_FIELDS)
        return JsonResponse({"calls": {str(call.pk): _live_state(call) for call in calls}})

    # Actions

    @admin.action(description="Hang up selected live calls", permissions=["change"])
    def hang_up(self, request: HttpRequest, queryset: QuerySet) -> None:
        ended = 0
        for call in queryset.select_related("contact"):
            if call.is_final:
                ended += 1
                continue
            try:
                call = call_hang_up(call=call)
            except CallError as exc:
                self.message_user(request, f"Could not hang up {call.phone_number}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"Hung up {call.phone_number} ({call.twilio_sid or 'not dialled yet'}).",
                              messages.SUCCESS)
        if ended:
            self.message_user(request, f"{ended} selected call(s) had already ended.", messages.INFO)

    @admin.action(description="Export selected calls to Excel (.xlsx)", permissions=["view"])
    def export_xlsx(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return _download(call_history_xlsx(queryset.select_related("contact")), XLSX_CONTENT_TYPE, "xlsx")

    @admin.action(description="Export selected calls to CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return _download(call_history_csv(queryset.select_related("contact")), "text/csv; charset=utf-8", "csv")


def _live_state(call: Call) -> dict:
    return {
        "status": call.status, "label": call.get_status_display(), "final": call.is_final,
        "duration": format_duration(call.duration) or "–", "end_reason": call.get_end_reason_display() or "-",
        "answered_by": call.answered_by or "-",
    }


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
