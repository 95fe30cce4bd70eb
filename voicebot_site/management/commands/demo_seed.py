"""`manage.py demo_seed`: the demo's contacts and staff login (voicebot_site/demo_data.py), in demo mode only.
`manage.py demo` runs it; it prints the login."""
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from voicebot_site.demo_data import demo_data_seed


class Command(BaseCommand):
    help = "Add the demo's contacts and staff login (a new password each time) to the demo database."

    def handle(self, *args, **options) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("demo_seed writes demo data: it runs in demo mode only (DEMO_MODE=true, make demo).")
        password = secrets.token_urlsafe(12)
        user = demo_data_seed(password=password)
        self.stdout.write(f"  username: {user.username}\n  password: {password}")
