"""Creates (or updates) the daily recording-retention schedule in django-q2; safe to run on every deploy."""
from django.core.management.base import BaseCommand
from django.utils import timezone
from django_q.models import Schedule

PURGE_SCHEDULE = "extraction: purge old recordings"


class Command(BaseCommand):
    help = "Create or update the daily schedule that deletes recordings older than RECORDING_RETENTION_DAYS."

    def handle(self, *args: object, **options: object) -> None:
        _, created = Schedule.objects.update_or_create(
            name=PURGE_SCHEDULE,
            defaults={"func": "extraction.tasks.recordings_purge", "schedule_type": Schedule.DAILY, "repeats": -1},
            create_defaults={
                "func": "extraction.tasks.recordings_purge",
                "schedule_type": Schedule.DAILY,
                "repeats": -1,
                "next_run": timezone.now(),
            },
        )
        self.stdout.write(self.style.SUCCESS(f"{'Created' if created else 'Updated'} schedule {PURGE_SCHEDULE!r}."))
