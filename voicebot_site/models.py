"""What the site itself stores: failed logins, counted by voicebot_site.login_limits."""
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LoginFailure(models.Model):
    """One failed login: the account tried (blank for a wrong API token, or once the account logged in) and the
    client's address. A row per failure, so that failures counted by any number of processes add up exactly."""

    username = models.CharField(_("username"), max_length=150, blank=True)
    address = models.CharField(_("address"), max_length=64, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name, verbose_name_plural = _("failed login"), _("failed logins")
        indexes = [
            models.Index(fields=["username", "at"], name="login_failure_account"),
            models.Index(fields=["address", "at"], name="login_failure_address"),
        ]

    def __str__(self) -> str:
        return f"{self.username or '-'} from {self.address or '?'} at {self.at:%Y-%m-%d %H:%M:%S}"
