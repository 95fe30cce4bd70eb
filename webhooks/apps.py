from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks out")

    def ready(self) -> None:
        # Calls, processing and campaigns send signals inside the transaction that changes their state; the
        # deliveries are written in that same transaction and sent by the worker once it commits.
        from calls.signals import call_final, call_processed
        from campaigns.signals import campaign_completed
        from webhooks import receivers

        call_final.connect(receivers.call_completed_notify, dispatch_uid="webhooks.call_completed")
        call_processed.connect(receivers.call_processed_notify, dispatch_uid="webhooks.call_processed")
        campaign_completed.connect(receivers.campaign_completed_notify, dispatch_uid="webhooks.campaign_completed")
