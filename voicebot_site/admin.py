"""Failed logins, for staff who need to see who is being locked out, and to unlock at once (delete the rows)."""
from django.contrib import admin

from voicebot_site.models import LoginFailure


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):
    """Read-only: rows are written by voicebot_site.login_limits. Deleting an account's or an address's rows unlocks
    it; rows older than LOGIN_FAILURE_WINDOW no longer count and are deleted by the next failure."""

    list_display = ("at", "username", "address")
    list_filter = ("at",)
    search_fields = ("username", "address")
    date_hierarchy = "at"
    ordering = ("-at",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
