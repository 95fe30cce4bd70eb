"""CallAdmin: the calls list and call page an operator reviews (status, audio, transcript, extracted data).

Everything on a call is written by Twilio or the pipeline, so the call page is read-only: saving it would write
back stale values over what the pipeline stores meanwhile. Calls are created by placing them or by uploading a
recording made elsewhere, never typed in. Re-running the post-call processing and uploads go through
extraction.services; calls/review/display.py turns the stored JSON into tables staff can read.
"""
from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.views.decorators.http import require_POST
from django.utils.translation import gettext_lazy as _

from calls.review.display import (
    field_label, cost_currency, cost_table, money,
    extracted_columns, extracted_others, extracted_rows, extracted_text, metrics_table, processing_failed,
    processing_table, token_usage_table,
)
from calls.review.list_filters import AnsweredFilter, FilledFieldFilter, ProcessingFilter, TalkTimeFilter
from calls.review.forms import RecordedCallForm, RecordingForm
from calls.review.try_views import may_try, try_page_view, try_start_view
from calls.review.exports import (
    XLSX_CONTENT_TYPE, call_history_csv, call_history_xlsx, export_filename, format_duration,
)
from calls.selectors import filter_extracted_value, filter_phone_number
from calls.exceptions import CallError
from calls.models import Call, CallEvent, CallStatus, EndReason
from calls.api.recording_download import recording_url_name
from calls.services import call_hang_up
from calls.services.monitoring import WHISPER_MAX_CHARS, call_whisper
from calls.review.transcript_turns import conversation_turns, transcript_turns
from contacts.services import ContactError
from extraction.exceptions import RecordingRejected
from extraction.services import (
    ReprocessReport, process_calls_enqueue, recorded_call_import, recording_upload,
)
from voicebot_site.admin_history import history_record

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
    verbose_name = _("timeline event")
    verbose_name_plural = _("timeline")

    def has_add_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    @admin.display(description=_("Time"))
    def time(self, event: CallEvent) -> str:
        return f"{timezone.localtime(event.at):%H:%M:%S}"

    @admin.display(description=_("What happened"))
    def what(self, event: CallEvent) -> str:
        status = event.details.get("status")
        if event.kind == CallEvent.Kind.STATUS and status in CallStatus.values:
            return CallStatus(status).label
        return event.get_kind_display()  # an unknown kind (an older version's) is shown as stored

    @admin.display(description=_("Details"))
    def details(self, event: CallEvent) -> str:
        parts = []
        for key, value in event.details.items():
            shown_as_what = event.kind == CallEvent.Kind.STATUS and key == "status"
            if value in (None, "", [], {}) or key in EVENT_DETAILS_HIDDEN or shown_as_what:
                continue
            if isinstance(value, bool):
                value = _("yes") if value else _("no")
            elif key == "duration" and isinstance(value, int | float):
                value = format_duration(value)
            elif key == "end_reason" and value in EndReason.values:
                value = EndReason(value).label
            parts.append(f"{EVENT_DETAIL_NAMES.get(key) or field_label(key)}: {value}")
        return " · ".join(parts) or "–"


EVENT_DETAILS_HIDDEN = frozenset({"sequence_number"})
EVENT_DETAIL_NAMES = {"sid": _("Call SID"), "stream_sid": _("Stream SID"), "filler": _("Filler line said")}


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = (
        "contact_display", "status_badge", "end_reason", "answered_by", "created_display", "duration_display",
        "cost_display", "extracted_summary",
    )
    list_filter = (
        "status", "end_reason", "is_test", ProcessingFilter, ("created_at", admin.DateFieldListFilter), "campaign", AnsweredFilter,
        TalkTimeFilter, FilledFieldFilter,
    )
    date_hierarchy = "created_at"
    search_fields = ("phone_number", "contact__phone_number", "contact__name", "twilio_sid")
    search_help_text = _("Phone number (any format), name, call SID, or any extracted value.")
    list_select_related = ("contact",)
    list_per_page = 50
    actions = ["export_xlsx", "export_csv", "hang_up", "reprocess"]
    inlines = [CallEventInline]
    fieldsets = (
        (None, {"fields": ("contact", "phone_number", "status_badge", "end_reason", "answered_by", "transfer_display",
                           "error")}),
        (_("Timing"), {"fields": ("created_at", "answered_at", "ended_at", "duration_display")}),
        (_("Cost"), {"fields": ("cost_display", "cost_table_display")}),
        (_("Recording"), {"fields": ("audio_player", "recording_download")}),
        (_("Conversation"), {"fields": ("final_transcript", "live_transcript_display")}),
        (_("Extracted data"), {"fields": ("extracted_table", "extraction_error")}),
        (_("Twilio"), {"classes": ("collapse",), "fields": ("twilio_sid", "stream_sid", "code", "status_sequence")}),
        (_("Processing"), {"classes": ("collapse",), "fields": ("processing_display", "token_usage_display",
                                                           "metrics_display")}),
    )
    readonly_fields = (
        "contact", "phone_number", "status_badge", "end_reason", "answered_by", "transfer_display", "error",
        "created_at",
        "answered_at", "ended_at", "duration_display", "audio_player", "recording_download", "final_transcript",
        "live_transcript_display", "extracted_table", "extraction_error", "twilio_sid", "stream_sid", "code",
        "status_sequence", "processing_display", "token_usage_display", "metrics_display", "cost_display",
        "cost_table_display",
    )
    change_form_template = "admin/calls/call/change_form.html"
    change_list_template = "admin/calls/call/change_list.html"
    upload_template_name = "admin/calls/call/upload.html"

    class Media:
        css = {"all": ("calls/admin.css",)}
        js = ("calls/live_status.js", "calls/transcript_seek.js")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        # The list keeps change rights (so actions work); a single call opens as a read-only view.
        return obj is None and super().has_change_permission(request)

    # The custom permissions (Call.Meta.permissions) that guard what costs money or exposes a voice; actions
    # name them in `permissions=[...]`, so a user without one does not even see the action.

    def has_hangup_call_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("calls.hangup_call")

    def has_rerun_processing_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("calls.rerun_processing")

    def has_upload_recording_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("calls.upload_recording")

    def has_export_calls_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("calls.export_calls")

    def get_list_display(self, request: HttpRequest) -> list:
        # One column per field of the extraction schema: a setting, so not known when list_display is declared.
        *before, summary = super().get_list_display(request)
        return [*before, *extracted_columns(), summary]

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        # "Other extracted data" is for values no schema field shows (an earlier schema's): without any on this
        # page it would be a column of dashes taking the room the schema's columns need.
        if not any(extracted_others(call.extracted_data) for call in changelist.result_list):
            changelist.list_display = [name for name in changelist.list_display if name != "extracted_summary"]
        return changelist

    def get_fieldsets(self, request: HttpRequest, obj: Call | None = None):
        hidden = {"audio_player"} if not request.user.has_perm("calls.listen_recording") else set()
        if not request.user.has_perm("calls.download_recording"):
            hidden.add("recording_download")
        fieldsets = []
        for name, options in super().get_fieldsets(request, obj):
            fields = [field for field in options["fields"] if field not in hidden]
            # A failed processing is what staff need to see first, so its section opens by itself.
            opened = "processing_display" in fields and obj is not None and processing_failed(obj)
            if fields:
                fieldsets.append((name, {**options, "fields": fields, **({"classes": ()} if opened else {})}))
        return fieldsets

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            results |= filter_extracted_value(queryset, term)
            if set(term) <= PHONE_LIKE:
                results |= filter_phone_number(queryset, term)
        return results, may_have_duplicates

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        can_upload = self.has_upload_recording_permission(request)
        context = {"title": _("Calls"), "can_upload": can_upload, "can_try": may_try(request)}
        return super().changelist_view(request, {**context, **(extra_context or {})})

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None):
        context = {"can_process": self.has_rerun_processing_permission(request),
                   "can_upload": self.has_upload_recording_permission(request),
                   "can_hang_up": self.has_hangup_call_permission(request),
                   "can_listen": request.user.has_perm("calls.listen_recording"),
                   "can_whisper": self.has_whisper_permission(request), "whisper_max": WHISPER_MAX_CHARS}
        context.update(self._neighbours(request, object_id))
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})

    def _neighbours(self, request: HttpRequest, object_id: str) -> dict[str, int | None]:
        """The calls just newer and just older than this one, in the calls list's order (newest first)."""
        call = Call.objects.filter(pk=object_id).only("created_at").first() if object_id.isdigit() else None
        if call is None:
            return {}
        calls = self.get_queryset(request).order_by()
        newer = calls.filter(Q(created_at__gt=call.created_at) | Q(created_at=call.created_at, pk__gt=call.pk))
        older = calls.filter(Q(created_at__lt=call.created_at) | Q(created_at=call.created_at, pk__lt=call.pk))
        return {"newer_call": newer.order_by("created_at", "pk").values_list("pk", flat=True).first(),
                "older_call": older.order_by("-created_at", "-pk").values_list("pk", flat=True).first()}

    # List columns

    @admin.display(description=_("Contact"), ordering="contact__phone_number")
    def contact_display(self, call: Call) -> str:
        return str(call.contact)

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, call: Call) -> SafeString:
        if not call.is_test:
            return self._status_badge(call)
        return format_html('{} <span class="call-test" title="{}">{}</span>', self._status_badge(call),
                           _("A test call from the browser (Try this script)"), _("Test"))

    def _status_badge(self, call: Call) -> SafeString:
        label = call.get_status_display()
        if not call.is_final:
            # live_status.js refreshes badges that carry the call's id, until the call ends.
            badge = ('<span class="call-status call-status--{}" data-live-call="{}" data-live-url="{}" '
                     'title="{}">{}</span> <a class="call-watch" href="{}#live-call">{}</a>')
            return format_html(badge, call.status, call.pk, reverse("admin:calls_call_live_status"),
                               _("Updates by itself"), label, reverse("admin:calls_call_change", args=[call.pk]),
                               _("Watch live"))
        return format_html('<span class="call-status call-status--{}">{}</span>', call.status, label)

    @admin.display(description=_("Created at"), ordering="created_at")
    def created_display(self, call: Call) -> str:
        # Shorter than Django's "Nov. 25, 2026, 3:04 a.m." and allowed to wrap, so the extracted columns fit.
        return f"{timezone.localtime(call.created_at):%Y-%m-%d %H:%M}"

    @admin.display(description=_("Duration"), ordering="duration")
    def duration_display(self, call: Call) -> str:
        return format_duration(call.duration) or "–"

    @admin.display(description=_("Other extracted data"))
    def extracted_summary(self, call: Call) -> str:
        """Extracted values that have no column: fields of an earlier schema, or everything if none is set."""
        others = extracted_others(call.extracted_data).items()
        parts = [f"{field_label(key)}: {extracted_text(value)}" for key, value in others if extracted_text(value)]
        return Truncator(" · ".join(parts)).chars(90) or "–"

    # Call page

    @admin.display(description=_("Recording"))
    def audio_player(self, call: Call) -> SafeString | str:
        name = recording_url_name(call)
        if name is None:
            return _("Deleted") if call.recording_deleted_at else _("No recording")
        url = reverse("recording", kwargs={"name": name})
        return format_html('<audio class="call-audio" controls preload="metadata" src="{}"></audio>', url)

    @admin.display(description=_("Download"))
    def recording_download(self, call: Call) -> SafeString | str:
        name = recording_url_name(call)
        if name is None:
            return "–"
        url = reverse("recording", kwargs={"name": name})
        return format_html('<a href="{}" download>{}</a>', url, _("Download the recording"))

    @admin.display(description=_("Transcript"))
    def final_transcript(self, call: Call) -> SafeString:
        turns = transcript_turns(call.transcript) or conversation_turns(call.conversation)
        return _render_turns(turns, empty=_("Not transcribed yet."))

    @admin.display(description=_("Live transcript"))
    def live_transcript_display(self, call: Call) -> SafeString:
        return _render_turns(transcript_turns(call.live_transcript), empty=_("Nothing heard."))

    @admin.display(description=_("Extracted fields"))
    def extracted_table(self, call: Call) -> SafeString | str:
        rows = extracted_rows(call.extracted_data)
        if not rows:
            return "–"
        cells = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        return format_html('<table class="call-extracted">{}</table>', cells)

    @admin.display(description=_("Transcription and extraction"))
    def processing_display(self, call: Call) -> SafeString:
        return processing_table(call)

    @admin.display(description=_("AI tokens used in the call"))
    def token_usage_display(self, call: Call) -> SafeString | str:
        return token_usage_table(call.token_usage)

    @admin.display(description=_("Cost"), ordering="cost_total")
    def cost_display(self, call: Call) -> str:
        return money(call.cost_total, cost_currency(call.cost)) if call.cost_total is not None else "–"

    @admin.display(description=_("What it cost"))
    def cost_table_display(self, call: Call) -> SafeString | str:
        return cost_table(call.cost)

    @admin.display(description=_("Conversation measures"))
    def metrics_display(self, call: Call) -> SafeString | str:
        return metrics_table(call.metrics)

    @admin.display(description=_("Transferred to a person"))
    def transfer_display(self, call: Call) -> str:
        """Reason, number and outcome of the transfer_call hand-off (calls.transfer), or "-"."""
        transfer = call.transfer if isinstance(call.transfer, dict) else {}
        if not transfer:
            return "-"
        outcome = str(transfer.get("outcome") or "")
        seconds = transfer.get("dial_duration")
        return (f"{transfer.get('reason', '')} → {transfer.get('to', '')}: {outcome}"
                + (f" ({seconds} s)" if seconds else "") + (f" — {transfer['error']}" if transfer.get("error") else ""))

    # Live status (polled by static/calls/live_status.js on the calls list)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("live-status/", view(self.live_status_view), name="calls_call_live_status"),
            path("upload/", view(self.upload_view), name="calls_call_upload"),
            path("try/", view(lambda request: try_page_view(self, request)), name="calls_call_try"),
            path("try/start/", view(require_POST(lambda request: try_start_view(self, request))),
                 name="calls_call_try_start"),
            path("<int:pk>/process/", view(require_POST(self.process_view)), name="calls_call_process"),
            path("<int:pk>/hang-up/", view(require_POST(self.hang_up_view)), name="calls_call_hang_up"),
            path("<int:pk>/whisper/", view(require_POST(self.whisper_view)), name="calls_call_whisper"),
            path("<int:pk>/recording/", view(self.recording_view), name="calls_call_recording"),
            *super().get_urls(),
        ]

    def live_status_view(self, request: HttpRequest) -> JsonResponse:
        """`{"calls": {id: {status, label, final, duration, end_reason, answered_by}}}` for `?ids=1,2,3`."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        ids = [int(value) for value in request.GET.get("ids", "").split(",")[:LIVE_STATUS_MAX] if value.isdigit()]
        calls = Call.objects.filter(pk__in=ids).only(*LIVE_FIELDS)
        return JsonResponse({"calls": {str(call.pk): _live_state(call) for call in calls}})

    def hang_up_view(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        """The live call page's "Hang up" button (the list's action, for one call)."""
        if not self.has_hangup_call_permission(request):
            raise PermissionDenied
        self.hang_up(request, Call.objects.filter(pk=get_object_or_404(Call, pk=pk).pk))
        return redirect("admin:calls_call_change", pk)

    def has_whisper_permission(self, request: HttpRequest) -> bool:
        """Telling the bot what to do mid-call changes the call: Supervisors (change call), not Agents."""
        return request.user.has_perm("calls.change_call")

    def whisper_view(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        """The live call page's "Whisper to the bot" box: an instruction for the bot's next turn."""
        if not self.has_whisper_permission(request):
            raise PermissionDenied
        call = get_object_or_404(Call, pk=pk)
        try:
            call_whisper(call=call, text=request.POST.get("text", ""), user=request.user.get_username())
        except CallError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, _("Whispered to the bot: it hears it before its next reply."),
                              messages.SUCCESS)
        return redirect("admin:calls_call_change", pk)

    # Re-run processing and upload recordings

    def process_view(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        """The call page's "Re-run transcription and extraction" button."""
        if not self.has_rerun_processing_permission(request):
            raise PermissionDenied
        call = get_object_or_404(Call, pk=pk)
        self._report_reprocess(request, process_calls_enqueue(calls=[call]))
        return redirect("admin:calls_call_change", call.pk)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """A call recorded elsewhere: number, date and WAV in; a new processed call out."""
        if not self.has_upload_recording_permission(request):
            raise PermissionDenied
        form = RecordedCallForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                call = recorded_call_import(phone_number=form.cleaned_data["phone_number"],
                                            file=form.cleaned_data["file"], called_at=form.cleaned_data["called_at"])
            except ContactError as exc:
                form.add_error("phone_number", str(exc))
            except RecordingRejected as exc:
                form.add_error("file", str(exc))
            else:
                history_record(user=request.user, objects=[call], flag=ADDITION,
                               message="Uploaded a recording made elsewhere; transcription and extraction queued.")
                self.message_user(request, _("Recording uploaded for %(contact)s: transcription and extraction "
                                             "are queued.") % {"contact": call.contact}, messages.SUCCESS)
                return redirect("admin:calls_call_change", call.pk)
        return self._render_upload(request, form, title=_("Upload a recording"))

    def recording_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The call page's "Upload recording": replaces the call's recording and processes it again."""
        if not self.has_upload_recording_permission(request):
            raise PermissionDenied
        call = get_object_or_404(Call.objects.select_related("contact"), pk=pk)
        form = RecordingForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                recording_upload(call=call, file=form.cleaned_data["file"])
            except RecordingRejected as exc:
                form.add_error("file", str(exc))
            else:
                history_record(user=request.user, objects=[call],
                               message="Replaced the recording; transcription and extraction queued.")
                self.message_user(request, _("Recording replaced: transcription and extraction are queued."),
                                  messages.SUCCESS)
                return redirect("admin:calls_call_change", call.pk)
        return self._render_upload(request, form, title=_("Replace the recording of %(call)s") % {"call": call},
                                   call=call)

    def _render_upload(self, request: HttpRequest, form: RecordingForm, *, title: str,
                       call: Call | None = None) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title,
                   "form": form, "call": call}
        return TemplateResponse(request, self.upload_template_name, context, status=400 if form.errors else 200)

    def _report_reprocess(self, request: HttpRequest, report: ReprocessReport) -> None:
        history_record(user=request.user, objects=report.queued, message="Re-ran transcription and extraction.")
        if report.queued:
            self.message_user(request, _("Queued %(count)s call(s) for transcription and extraction.")
                              % {"count": len(report.queued)}, messages.SUCCESS)
        for reason, calls in report.skipped.items():
            numbers = ", ".join(call.phone_number for call in calls[:5]) + (" …" if len(calls) > 5 else "")
            self.message_user(request, _("Skipped %(count)s call(s), %(reason)s: %(numbers)s.")
                              % {"count": len(calls), "reason": reason, "numbers": numbers}, messages.WARNING)

    # Actions

    @admin.action(description=_("Re-run transcription and extraction"), permissions=["rerun_processing"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._report_reprocess(request, process_calls_enqueue(calls=queryset))

    @admin.action(description=_("Hang up selected live calls"), permissions=["hangup_call"])
    def hang_up(self, request: HttpRequest, queryset: QuerySet) -> None:
        ended = 0
        for call in queryset.select_related("contact"):
            if call.is_final:
                ended += 1
                continue
            try:
                call = call_hang_up(call=call)
            except CallError as exc:
                self.message_user(request, _("Could not hang up %(number)s: %(error)s")
                                  % {"number": call.phone_number, "error": exc.message}, messages.ERROR)
                continue
            history_record(user=request.user, objects=[call], message="Hung up.")
            self.message_user(request, _("Hung up %(number)s (%(sid)s).") % {
                "number": call.phone_number, "sid": call.twilio_sid or _("not dialled yet")}, messages.SUCCESS)
        if ended:
            self.message_user(request, _("%(count)s selected call(s) had already ended.") % {"count": ended},
                              messages.INFO)

    @admin.action(description=_("Export selected calls to Excel (.xlsx)"), permissions=["export_calls"])
    def export_xlsx(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return _download(call_history_xlsx(queryset.select_related("contact")), XLSX_CONTENT_TYPE, "xlsx")

    @admin.action(description=_("Export selected calls to CSV"), permissions=["export_calls"])
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


def _download(content: bytes, content_type: str, extension: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{export_filename(extension)}"'
    return response
