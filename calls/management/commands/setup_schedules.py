"""Create (or update) the periodic background jobs. Safe to run on every deploy."""
from django.core.management.base import BaseCommand
from django_q.models import Schedule

SCHEDULES = [
    {
        "name": "calls-reconcile-stale",
        "func": "calls.tasks.call_reconcile_stale",
        "schedule_type": Schedule.MINUTES,
        "minutes": 5,
        "repeats": -1,
    },
    {
        # Twilio callbacks kept on this host's disk while the database refused them (calls.services.webhook_spool).
        "name": "calls-apply-spooled-callbacks",
        "func": "calls.tasks.twilio_callbacks_apply_spooled",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
        "repeats": -1,
    },
    {
        # Campaigns: each run makes a pass every second for 55 s (campaigns.scheduler): q2 starts a schedule at
        # most once a minute, far too coarse for calls-per-second pacing. Two runs overlapping are harmless.
        "name": "campaigns-run",
        "func": "campaigns.tasks.campaigns_run",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
        "repeats": -1,
    },
    {
        # Contact files previewed in the admin import and never confirmed (they hold phone numbers).
        "name": "contacts-purge-import-uploads",
        "func": "contacts.tasks.import_uploads_purge",
        "schedule_type": Schedule.HOURLY,
        "repeats": -1,
    },
    {
        # The webhooks-out log: finished deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS.
        "name": "webhooks-purge-deliveries",
        "func": "webhooks.tasks.deliveries_purge",
        "schedule_type": Schedule.DAILY,
        "repeats": -1,
    },
]


class Command(BaseCommand):
    help = ("Create or update the django-q2 schedules (stale-call reconciliation, spooled Twilio callbacks, campaigns, "
            "expired import previews, old webhook deliveries).")

    def handle(self, *args, **options) -> None:
        for spec in SCHEDULES:
            values = {key: value for key, value in spec.items() if key != "name"}
            _, created = Schedule.objects.update_or_create(name=spec["name"], defaults=values)
            self.stdout.write(f"{'Created' if created else 'Updated'} schedule {spec['name']}")
