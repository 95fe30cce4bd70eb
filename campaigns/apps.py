from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # A call that ends settles its campaign contact (calls knows nothing of campaigns: it sends a signal).
        from calls.signals import call_final
        from campaigns.settling import campaign_contact_settle_from_call_signal

        call_final.connect(campaign_contact_settle_from_call_signal, dispatch_uid="campaigns.settle_from_call")
