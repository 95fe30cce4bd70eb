"""Webhooks out in the admin: endpoints (with "Send test event") and the log of deliveries (with "Re-send")."""
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from voicebot_site.admin_history import history_record
from webhooks.models import SUBSCRIBABLE, Delivery, Endpoint
from webhooks.services import delivery_resend, endpoint_send_test


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https",
                         help_text=_("http:// or https:// address that receives a POST per event."))
    events = forms.MultipleChoiceField(
        choices=[(event.value, format_lazy("{}: {}", event.value, event.label)) for event in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple, label=_("Events"))

    class Meta:
        model = Endpoint
        fields = ["url", "events", "active", "description", "secret"]


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ("url", "description", "events_list", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "description")
    actions = ["send_test"]

    def get_fields(self, request: HttpRequest, obj: Endpoint | None = None) -> list[str]:
        # The secret signs what receivers trust: only those who may change the endpoint see it.
        fields = ["url", "events", "active", "description"]
        return fields + ["secret"] if self.has_change_permission(request, obj) else fields

    @admin.display(description=_("Events"))
    def events_list(self, endpoint: Endpoint) -> str:
        return ", ".join(endpoint.events) if isinstance(endpoint.events, list) else ""

    def save_model(self, request: HttpRequest, obj: Endpoint, form: forms.ModelForm, change: bool) -> None:
        generated = not obj.secret
        super().save_model(request, obj, form, change)
        if generated:
            self.message_user(request, _("Signing secret of %(endpoint)s: %(secret)s (give it to the receiver; it "
                                         "stays readable here to those who may change endpoints).")
                              % {"endpoint": obj, "secret": obj.secret}, messages.WARNING)

    @admin.action(description=_("Send test event"), permissions=["change"])
    def send_test(self, request: HttpRequest, queryset: QuerySet) -> None:
        sent = [endpoint_send_test(endpoint=endpoint) for endpoint in queryset]
        history_record(user=request.user, objects=list(queryset), message="Sent a test event.")
        self.message_user(request, _("Queued a test event to %(count)s endpoint(s); see Deliveries.")
                          % {"count": len(sent)}, messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only: deliveries are written by webhooks.services. "Re-send" sends the same body again, as a new row."""

    list_display = ("created_at", "event", "endpoint", "status", "attempts", "response_code", "duration_ms",
                    "last_attempt_at", "next_attempt_at", "call")
    list_filter = ("status", "event", "endpoint", "created_at")
    list_select_related = ("endpoint", "call")
    search_fields = ("event_id", "call__twilio_sid", "error")
    date_hierarchy = "created_at"
    readonly_fields = ("endpoint", "event", "event_id", "status", "attempts", "created_at", "last_attempt_at",
                       "next_attempt_at", "response_code", "duration_ms", "error", "response_body", "body", "call",
                       "campaign", "resent_from")
    fields = readonly_fields
    actions = ["resend"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.resend_delivery")

    @admin.action(description=_("Re-send selected deliveries"), permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet) -> None:
        copies = [delivery_resend(delivery=delivery) for delivery in queryset.select_related("endpoint")]
        history_record(user=request.user, objects=list(queryset), message="Re-sent.")
        self.message_user(request, _("Queued %(count)s re-send(s).") % {"count": len(copies)}, messages.SUCCESS)


