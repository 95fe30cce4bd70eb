"""The admin's "Try this script" page (link on the calls list): staff talk to the bot from the browser.

GET shows the agent profile select and an optional contact; the page's "Start" POSTs to the start view, which
creates the test call (`calls.services.test_calls.call_test_start`) and answers with what the page needs to open
`/ws/try/<call code>` (static/calls/try_call.js does the rest). Both need calls.place_call and calls.view_call.
"""
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from calls.exceptions import CallError
from calls.live.browser_call import PERMISSIONS
from calls.services.test_calls import call_test_start, profiles_for_test_calls

TEMPLATE = "admin/calls/call/try_call.html"


def may_try(request: HttpRequest) -> bool:
    return request.user.has_perms(PERMISSIONS)


def try_page_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    if not may_try(request):
        raise PermissionDenied
    profiles = [(name, name or _("Default (AI/)")) for name in profiles_for_test_calls()]
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta,
               "title": _("Try this script"), "profiles": profiles,
               "start_url": reverse("admin:calls_call_try_start")}
    return TemplateResponse(request, TEMPLATE, context)


def try_start_view(model_admin: ModelAdmin, request: HttpRequest) -> JsonResponse:
    """POST profile, contact (an id, optional) -> {call_id, code, token, socket, call_url}; 400 {error} on bad input."""
    if not may_try(request):
        raise PermissionDenied
    contact = request.POST.get("contact", "").strip()
    if contact and not contact.isdigit():
        return JsonResponse({"error": _("The contact must be a contact's id (a number), or left empty.")}, status=400)
    try:
        call, token = call_test_start(user=request.user.get_username(), profile=request.POST.get("profile", ""),
                                      contact_id=int(contact) if contact else None)
    except CallError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    return JsonResponse({"call_id": call.pk, "code": str(call.code), "token": token, "socket": f"/ws/try/{call.code}",
                         "call_url": reverse("admin:calls_call_change", args=[call.pk])})
