"""The CRM: contacts with search, filters, their call history, export (xlsx/csv/txt) and a two-step import.

Import is our own view rather than django-import-export's: its per-row machinery is far too slow for 100,000
rows and it refuses to confirm a file with any bad row, whereas staff must be able to import the good rows.
Preview and confirm both run `contacts.services.contacts_import`, the same code as the API; between the two the
file waits in the database (`contacts.import_uploads`), for the staff user who uploaded it only.
"""
import io

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.contrib.admin.models import ADDITION
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from import_export.admin import ExportMixin

from calls.exceptions import CallError
from calls.review.exports import XLSX_CONTENT_TYPE, format_duration
from calls.models import Call
from calls.services import place_call
from campaigns.models import Outcome
from campaigns.services import campaign_draft_from_contacts, campaign_progress
from contacts import import_uploads
from contacts.attributes import MAX_ATTRIBUTES, AttributesInvalid, attributes_from_lines, attributes_to_lines
from contacts.filters import CalledFilter
from contacts.import_template import import_template_xlsx
from contacts.models import Contact
from contacts.phones import InvalidPhoneNumber, PhoneNumberFormField, normalize_phone
from contacts.resources import EXPORT_FORMATS, ContactResource
from contacts.services import (
    ContactImportRejected,
    ImportReport,
    contact_delete,
    contacts_import,
    contacts_set_do_not_call,
)
from voicebot_site.admin_history import history_record, history_record_bulk

# The preview lists at most this many problem rows; the counts always cover the whole file.
PREVIEW_ERRORS = 500
PREVIEW_NEW = 10


class AttributesFormField(forms.CharField):
    """Contact.attributes as `name: value` lines, for staff who do not write JSON; each mistake named by line."""

    widget = forms.Textarea(attrs={"rows": 6, "cols": 60, "placeholder": "Ciudad: Madrid\nPresupuesto: 900"})

    def __init__(self, **kwargs) -> None:
        kwargs.pop("encoder", None), kwargs.pop("decoder", None)  # JSONField's own form-field arguments
        super().__init__(strip=False, **kwargs)

    def prepare_value(self, value: object) -> str:
        return value if isinstance(value, str) else attributes_to_lines(value)

    def to_python(self, value: object) -> dict:
        try:
            return attributes_from_lines(value or "")
        except AttributesInvalid as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None


class ContactAdminForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["phone_number", "name", "comments", "attributes", "do_not_call", "number_invalid"]
        field_classes = {"phone_number": PhoneNumberFormField, "attributes": AttributesFormField}
        help_texts = {
            "phone_number": _("Type it any way, e.g. 600 123 456 or +34 600 123 456: it is stored as +34600123456. "
                              "Numbers without a country code are taken as being from the default country."),
            "attributes": format_lazy(_("One a line, as name: value (e.g. Ciudad: Madrid). At most {max}; a plain "
                                        "number (900, 12.5) is kept as a number. Prompts read them as "
                                        "{{{{contact.attributes.Ciudad}}}}."), max=MAX_ATTRIBUTES),
        }


class CallInline(admin.TabularInline):
    """The contact's calls, newest first, read-only; each row opens the call's own page."""

    model = Call
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = _("Call history")
    empty_message = _("Not called yet.")  # shown under the empty table (templates/admin/change_form.html)
    fields = ["call_link", "status", "duration_display", "end_reason"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("Duration"))
    def duration_display(self, call: Call) -> str:
        return format_duration(call.duration) or "–"  # "0:42" as on the calls list, not "42.0"

    @admin.display(description=_("Call"))
    def call_link(self, call: Call) -> str:
        label = f"{call.created_at:%Y-%m-%d %H:%M}"
        try:
            return format_html('<a href="{}">{}</a>', reverse("admin:calls_call_change", args=[call.pk]), label)
        except NoReverseMatch:  # the calls admin is not installed
            return label


class ContactImportForm(forms.Form):
    file = forms.FileField(
        label=_("Contacts file"),
        allow_empty_file=True,  # contacts_import explains an empty file better than the generic message
        help_text=_("An .xlsx, .xls, .csv or .txt file. Phone numbers in the first column, names (optional) in "
                    "the second. A title row such as “Phone Number, Name” is recognised and skipped; with one, each "
                    "further titled column (Ciudad, Presupuesto...) becomes an attribute of the contacts, named by "
                    "its title."),
    )


@admin.register(Contact)
class ContactAdmin(ExportMixin, admin.ModelAdmin):
    form = ContactAdminForm
    resource_classes = [ContactResource]
    export_formats = list(EXPORT_FORMATS.values())
    import_export_change_list_template = "admin/contacts/contact/change_list_import_export.html"
    import_template_name = "admin/contacts/contact/import.html"

    # One worded column instead of two yes/no icons: a red cross under "Do not call" meant "may be called".
    list_display = ["phone_number", "name", "can_be_called", "last_called_at", "created_at"]
    list_display_links = ["phone_number", "name"]
    list_filter = ["do_not_call", "number_invalid", CalledFilter, "created_at"]
    search_fields = ["phone_number", "name", "comments"]
    search_help_text = _("Search by phone number (any format), name or comments.")
    readonly_fields = ["created_at", "updated_at", "last_called_at", "do_not_call_quote", "do_not_call_at_ms",
                       "do_not_call_call"]
    fieldsets = [
        (None, {"fields": ["phone_number", "name", "comments", "attributes"]}),
        (_("Calling"), {"fields": ["do_not_call", "do_not_call_quote", "do_not_call_at_ms", "do_not_call_call",
                                "number_invalid", "last_called_at"]}),
        (_("Record"), {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    inlines = [CallInline]
    actions = ["mark_do_not_call", "allow_calls", "call_contacts"]
    date_hierarchy = "created_at"
    change_form_template = "admin/contacts/contact/change_form.html"

    @admin.display(description=_("Can be called"), ordering="do_not_call")
    def can_be_called(self, contact: Contact) -> str:
        refusal = contact.call_refusal()
        return _("Yes") if refusal is None else _("No: %(reason)s") % {"reason": refusal.label}

    def get_search_results(self, request, queryset, search_term):
        """Also find the contact when staff type its number another way (`600 123 456` for `+34600123456`)."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            phone = normalize_phone(search_term)
        except InvalidPhoneNumber:
            return results, may_have_duplicates
        return results | queryset.filter(phone_number=phone), may_have_duplicates

    # What costs money or moves many contacts at once needs its own permission (README, "Roles"); actions name
    # them in `permissions=[...]`, so a user without one does not even see the action.

    def has_place_call_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("calls.place_call")

    def has_add_campaign_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaigns.add_campaign")

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perms(["contacts.add_contact", "contacts.import_contacts"])

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contacts.export_contacts")

    def delete_model(self, request: HttpRequest, obj: Contact) -> None:
        contact_delete(contact=obj)  # also removes the recordings of the contact's calls

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for contact in queryset:
            contact_delete(contact=contact)

    @admin.action(description=_("Mark selected contacts as do not call"), permissions=["change"])
    def mark_do_not_call(self, request: HttpRequest, queryset) -> None:
        changed = contacts_set_do_not_call(contacts=queryset, do_not_call=True)
        self.message_user(request, _("%(count)s contact(s) will no longer be called.") % {"count": changed},
                          messages.SUCCESS)

    @admin.action(description=_("Allow calls to selected contacts again"), permissions=["change"])
    def allow_calls(self, request: HttpRequest, queryset) -> None:
        changed = contacts_set_do_not_call(contacts=queryset, do_not_call=False)
        self.message_user(request, _("%(count)s contact(s) can be called again.") % {"count": changed},
                          messages.SUCCESS)

    @admin.action(description=_("Call selected contacts (a new campaign)"), permissions=["add_campaign"])
    def call_contacts(self, request: HttpRequest, queryset) -> HttpResponseRedirect:
        """A draft campaign of the selected contacts; staff set its window, retries and limits, then start it."""
        campaign = campaign_draft_from_contacts(contacts=queryset, user=request.user)
        progress = campaign_progress(campaign=campaign)
        history_record(user=request.user, objects=[campaign], flag=ADDITION,
                       message=f"Created from {progress.total} selected contact(s).")
        refused = progress.by_outcome.get(Outcome.REFUSED, 0)
        values = {"campaign": campaign, "total": progress.total, "refused": refused}
        text = (_("Draft campaign %(campaign)s with %(total)s contact(s), %(refused)s of whom may not be called: "
                  "check its window, retries and limits, then start it.") if refused else
                _("Draft campaign %(campaign)s with %(total)s contact(s): check its window, retries and limits, "
                  "then start it."))
        self.message_user(request, text % values, messages.SUCCESS)
        return redirect("admin:campaigns_campaign_change", campaign.pk)

    def get_urls(self):
        import_view = self.admin_site.admin_view(self.import_view)
        template_view = self.admin_site.admin_view(self.import_template_view)
        call_now_view = self.admin_site.admin_view(require_POST(self.call_now_view))
        return [path("import/", import_view, name="contacts_contact_import"),
                path("import/template.xlsx", template_view, name="contacts_contact_import_template"),
                path("<int:pk>/call-now/", call_now_view, name="contacts_contact_call_now"),
                *super().get_urls()]

    def render_change_form(self, request: HttpRequest, context: dict, add: bool = False, change: bool = False,
                           form_url: str = "", obj: Contact | None = None):
        context.update(can_call_now=obj is not None and self.has_place_call_permission(request),
                       call_refusal=obj.call_refusal() if obj is not None else None)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def call_now_view(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        """The contact page's "Call now" button: one call to this contact at once, then the call's (live) page.

        The same service as the API and /make_call, so the same checks; a refusal stays on the contact's page.
        """
        if not (self.has_view_permission(request) and self.has_place_call_permission(request)):
            raise PermissionDenied
        contact = get_object_or_404(Contact, pk=pk)
        try:
            call = place_call(contact=contact)
        except CallError as exc:
            self.message_user(request, _("No call placed to %(contact)s: %(reason)s")
                              % {"contact": contact, "reason": exc.message}, messages.ERROR)
            return redirect("admin:contacts_contact_change", contact.pk)
        history_record(user=request.user, objects=[call], flag=ADDITION, message="Placed with Call now in the admin.")
        self.message_user(request, _("Calling %(contact)s…") % {"contact": contact}, messages.SUCCESS)
        return redirect("admin:calls_call_change", call.pk)

    def import_template_view(self, request: HttpRequest) -> HttpResponse:
        """The import page's "Download a template" link: an .xlsx with the columns the import reads."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        content = import_template_xlsx(region=settings.DEFAULT_PHONE_REGION, max_rows=settings.IMPORT_MAX_ROWS)
        response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = 'attachment; filename="contacts-import-template.xlsx"'
        return response

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": _("Contacts"), **(extra_context or {}),
                         "has_import_permission": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Step 1: upload and preview (nothing written). Step 2: confirm, import, show the result."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        if request.method == "POST" and "token" in request.POST:
            return self._import_confirm(request)
        form = ContactImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            return self._import_preview(request, form)
        return self._render_import(request, form=form)

    def _import_preview(self, request: HttpRequest, form: ContactImportForm) -> HttpResponse:
        upload = form.cleaned_data["file"]
        try:
            report = contacts_import(file=upload, filename=upload.name, size=upload.size, dry_run=True)
        except ContactImportRejected as exc:
            form.add_error("file", str(exc))
            return self._render_import(request, form=form, status=400)
        token = import_uploads.upload_keep(upload=upload, user=request.user) if report.new else ""
        return self._render_import(request, form=form, report=report, token=token, filename=upload.name)

    def _import_confirm(self, request: HttpRequest) -> HttpResponse:
        try:
            pending = import_uploads.upload_take(token=request.POST["token"], user=request.user)
            content, filename = bytes(pending.content), pending.filename
            report = contacts_import(file=io.BytesIO(content), filename=filename, size=len(content))
        except (import_uploads.UploadExpired, ContactImportRejected) as exc:
            messages.error(request, str(exc))
            return redirect("admin:contacts_contact_import")
        messages.success(request, _("Imported %(count)s new contact(s) from %(filename)s.")
                         % {"count": len(report.new), "filename": filename})
        history_record_bulk(user=request.user, model=Contact, title=f"Import of {filename}",
                            message=f"Imported {len(report.new)} new contact(s) from {filename}; "
                                    f"{len(report.failed)} row(s) not imported.")
        if report.failed:
            messages.warning(request, _("%(count)s row(s) were not imported; they are listed below.")
                             % {"count": len(report.failed)})
        return self._render_import(request, form=None, report=report, filename=filename)

    def _render_import(
        self, request: HttpRequest, *, form: ContactImportForm | None, report: ImportReport | None = None,
        token: str = "", filename: str = "", status: int = 200,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _import_title(report),
            "form": form,
            "report": report,
            "errors_shown": report.failed[:PREVIEW_ERRORS] if report else [],
            "new_shown": [(contact, [contact.attributes.get(name, "") for name in report.attribute_names])
                          for contact in report.new[:PREVIEW_NEW]] if report else [],
            "token": token,
            "filename": filename,
            "max_megabytes": settings.IMPORT_MAX_BYTES // 1_048_576,
            "max_rows": f"{settings.IMPORT_MAX_ROWS:,}",
            "region": settings.DEFAULT_PHONE_REGION,
        }
        return TemplateResponse(request, self.import_template_name, context, status=status)


def _import_title(report: ImportReport | None) -> str:
    if report is None:
        return _("Import contacts")
    return _("Check the import before confirming") if report.dry_run else _("Import finished")
