"""Admin list filters for contacts that Django's field filters cannot express."""
from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from calls.models import Call


class CalledFilter(admin.SimpleListFilter):
    """Whether we have ever called the contact: staff usually want "the ones not called yet"."""

    title = _("call history")
    parameter_name = "called"

    def lookups(self, request, model_admin):
        return [("no", _("Never called")), ("yes", _("Called at least once"))]

    def queryset(self, request, queryset):
        has_calls = Exists(Call.objects.filter(contact=OuterRef("pk")))
        if self.value() == "no":
            return queryset.filter(~has_calls)
        if self.value() == "yes":
            return queryset.filter(has_calls)
        return queryset
