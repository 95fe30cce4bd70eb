"""Campaigns in the admin: rules (window, retries, limits) while a draft or paused, start / pause / resume / cancel,
a progress page that refreshes itself, the campaign's calls and contacts, and the results export.

Campaigns are made from Contacts (select, action "Call selected contacts"), so there is no Add button here.
Supervisors manage campaigns; Agents see them (README, "Roles"); every view below checks its permission.
"""
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from django.utils.translation import gettext_lazy as _

from calls.models import Call
from campaigns import services
from campaigns.admin_forms import DAY_LABELS, RETRY_LABELS, CampaignForm
from campaigns.api import ACTIONS
from campaigns.models import Campaign, CampaignContact, CampaignState
from campaigns.results import FORMATS, campaign_results_response
from campaigns.rules import RETRY_OUTCOMES, contact_zone_clean
from campaigns.windows import Window, WindowInvalid
from voicebot_site.admin_history import history_record

EDITABLE = (CampaignState.DRAFT, CampaignState.PAUSED)
REFRESH_SECONDS = 5
RECENT_CALLS = 20
ACTION_LABELS = {"start": _("Start"), "pause": _("Pause"), "resume": _("Resume"), "cancel": _("Cancel")}
# Which buttons a campaign in each state offers.
OFFERED = {
    CampaignState.DRAFT: ("start", "cancel"),
    CampaignState.RUNNING: ("pause", "cancel"),
    CampaignState.PAUSED: ("resume", "cancel"),
}


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ["name", "state", "progress_link", "window_display", "started_at", "finished_at"]
    list_filter = ["state"]
    search_fields = ["name"]
    change_form_template = "admin/campaigns/campaign/change_form.html"
    rules_fieldsets = [
        (None, {"fields": ["name", "profile", "success_rule", "required_fields"]}),
        (_("When (in the callee's own time)"), {"fields": ["starts_at", "ends_at", "days", "hours", "time_zone"]}),
        (_("Limits"), {"fields": ["max_in_flight", "calls_per_second"]}),
        (_("Retries"), {"fields": ["max_attempts", *(f"retry_{outcome}" for outcome in RETRY_OUTCOMES)]}),
    ]
    readonly_fieldsets = [
        (None, {"fields": ["name", "state", "profile", "success_rule", "required_fields"]}),
        (_("When (in the callee's own time)"), {"fields": ["starts_at", "ends_at", "window_display", "time_zone"]}),
        (_("Limits"), {"fields": ["max_in_flight", "calls_per_second"]}),
        (_("Retries"), {"fields": ["max_attempts", "retry_display"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        # Rules are edited while nothing dials: a draft, or paused. The list keeps change rights for its actions.
        return super().has_change_permission(request, obj) and (obj is None or obj.state in EDITABLE)

    def get_fieldsets(self, request: HttpRequest, obj: Campaign | None = None):
        return self.rules_fieldsets if self.has_change_permission(request, obj) else self.readonly_fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None):
        if self.has_change_permission(request, obj):
            return []
        return [field for _, options in self.readonly_fieldsets for field in options["fields"]]

    @admin.display(description=_("Progress"))
    def progress_link(self, campaign: Campaign) -> str:
        url = reverse("admin:campaigns_campaign_progress", args=[campaign.pk])
        return format_html('<a href="{}">{}</a>', url, _("%(done)s of %(total)s done")
                           % {"done": campaign.done_count, "total": campaign.total_count})

    @admin.display(description=_("Window"))
    def window_display(self, campaign: Campaign) -> str:
        try:
            return Window.from_json(campaign.window).describe(day_names=DAY_LABELS, joiner=_("and"))
        except WindowInvalid as exc:
            return _("Invalid: %(error)s") % {"error": exc}

    @admin.display(description=_("Retry delays"))
    def retry_display(self, campaign: Campaign) -> str:
        delays = campaign.retry_delays or {}
        return "; ".join(f"{RETRY_LABELS[o]}: " + (_("%(minutes)s min") % {"minutes": f"{delays[o] / 60:g}"}
                                                   if delays.get(o) else _("no retry"))
                         for o in RETRY_OUTCOMES)

    def get_queryset(self, request: HttpRequest):
        return services.campaigns_with_counts(super().get_queryset(request))

    def response_change(self, request: HttpRequest, obj: Campaign) -> HttpResponse:
        if "_continue" in request.POST:
            return super().response_change(request, obj)
        self.message_user(request, _("Saved the rules of %(campaign)s.") % {"campaign": obj}, messages.SUCCESS)
        return redirect("admin:campaigns_campaign_progress", obj.pk)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = {**(extra_context or {}),
                         "progress_url": reverse("admin:campaigns_campaign_progress", args=[object_id])}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/progress/", view(self.progress_view), name="campaigns_campaign_progress"),
            path("<int:pk>/results.<str:file_format>", view(self.results_view), name="campaigns_campaign_results"),
            path("<int:pk>/do/<str:action>/", view(require_POST(self.action_view)), name="campaigns_campaign_action"),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign = get_object_or_404(Campaign, pk=pk)
        progress = services.campaign_progress(campaign=campaign)
        offered = [(name, ACTION_LABELS[name]) for name in OFFERED.get(campaign.state, ()) if _may(request, name)]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Campaign: %(campaign)s") % {"campaign": campaign},
            "campaign": campaign,
            "progress": progress,
            "states": _labelled(progress.by_state, CampaignContact._meta.get_field("state").choices),
            "outcomes": _labelled(progress.by_outcome, CampaignContact._meta.get_field("outcome").choices),
            "window": self.window_display(campaign),
            "actions": offered,
            "refresh": REFRESH_SECONDS if campaign.state in (CampaignState.RUNNING, CampaignState.PAUSED)
            or progress.in_flight else 0,
            "recent_calls": Call.objects.filter(campaign=campaign).select_related("contact")[:RECENT_CALLS],
            "may_edit": self.has_change_permission(request, campaign),
            "may_export": request.user.has_perm("calls.export_calls"),
            "formats": list(FORMATS),
            "entries_url": reverse("admin:campaigns_campaigncontact_changelist") + f"?campaign__id__exact={pk}",
        }
        return TemplateResponse(request, "admin/campaigns/campaign/progress.html", context)

    def action_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponseRedirect:
        if action not in ACTIONS or not (self.has_view_permission(request) and _may(request, action)):
            raise PermissionDenied
        campaign = get_object_or_404(Campaign, pk=pk)
        try:
            campaign = ACTIONS[action][0](campaign=campaign)
        except services.CampaignStateError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, _("Fix the rules first: %(errors)s") % {"errors": " ".join(exc.messages)},
                              messages.ERROR)
        else:
            history_record(user=request.user, objects=[campaign], message=f"{action.title()}.")
            self.message_user(request, f"{campaign}: {campaign.get_state_display().lower()}.", messages.SUCCESS)
        return redirect("admin:campaigns_campaign_progress", pk)

    def results_view(self, request: HttpRequest, pk: int, file_format: str) -> HttpResponse:
        if not (self.has_view_permission(request) and request.user.has_perm("calls.export_calls")):
            raise PermissionDenied
        if file_format not in FORMATS:
            raise PermissionDenied
        campaign = get_object_or_404(Campaign, pk=pk)
        return campaign_results_response(campaign=campaign, file_format=file_format)


def _may(request: HttpRequest, action: str) -> bool:
    return request.user.has_perms(ACTIONS[action][1])


def _labelled(counts: dict[str, int], choices) -> list[tuple[str, str, int]]:
    return [(value, label, counts[value]) for value, label in choices if counts.get(value)]


class CampaignContactForm(forms.ModelForm):
    """Only the contact's own time zone is edited here (a number whose prefix spans zones, or says nothing)."""

    class Meta:
        model = CampaignContact
        fields = ["time_zone"]

    def clean_time_zone(self) -> str:
        return contact_zone_clean(self.cleaned_data["time_zone"])


@admin.register(CampaignContact)
class CampaignContactAdmin(admin.ModelAdmin):
    """Who is where in a campaign. The scheduler writes it; staff may only set a contact's own time zone."""

    form = CampaignContactForm
    list_display = ["contact", "campaign", "state", "outcome", "attempts", "last_result", "next_attempt_at",
                    "last_call_link", "reason"]
    list_filter = ["campaign", "state", "outcome", "last_result"]
    search_fields = ["contact__phone_number", "contact__name"]
    list_select_related = ["contact", "campaign", "last_call"]
    list_per_page = 100
    fields = ["contact", "campaign", "time_zone", "zones", "state", "outcome", "reason", "attempts", "last_result",
              "next_attempt_at", "callback_at", "last_call_link"]
    readonly_fields = ["contact", "campaign", "zones", "state", "outcome", "reason", "attempts", "last_result",
                       "next_attempt_at", "callback_at", "last_call_link"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CampaignContact, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.entry_reschedule_one(entry=obj)

    @admin.display(description=_("Last call"))
    def last_call_link(self, entry: CampaignContact) -> str:
        if entry.last_call is None:
            return ""
        url = reverse("admin:calls_call_change", args=[entry.last_call_id])
        return format_html('<a href="{}">{}</a>', url, entry.last_call.get_status_display())
