"""Campaign speed: making a 100,000-contact campaign, one scheduler pass over it, database queries per placed call.

Usage: .venv/bin/python bench/campaign_bench.py [--contacts 100000] [--in-flight 50]
Runs on a fresh temporary SQLite database (migrated first), never db.sqlite3, with calls placed against a local
FakeTwilio REST server (simulator/twilio.py). Prints, each against a reference measured in the same run:
- creating the campaign (validation, each number's time zones and refusal, 100,000 rows) against inserting the
  100,000 contacts themselves;
- starting it (every contact's first time inside the window) against the same insert;
- one scheduler pass with every contact pending and `--in-flight` calls under way (the cap reached: the pass claims
  nothing, which is the steady state of a big campaign), then a pass that claims and dials 10 (the cap raised by 10);
- time and database queries per call placed by the scheduler, against `place_call` called directly (the API's
  door), both against the same FakeTwilio.
"""
import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--in-flight", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voicebot-bench-") as workdir:
        _setup_django(Path(workdir) / "bench.sqlite3")
        from simulator.twilio import FakeTwilio

        with FakeTwilio() as fake:
            _point_at(fake)
            _run(contacts=args.contacts, in_flight=args.in_flight)


def _setup_django(database: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["SQLITE_PATH"] = str(database)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "voicebot_site.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _point_at(fake) -> None:
    from django.conf import settings

    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = fake.account_sid, fake.auth_token
    settings.PHONE_NUMBER_FROM, settings.TWILIO_API_BASE_URL = "+15005550006", fake.base_url
    settings.PUBLIC_BASE_URL = "https://voicebot.example"
    settings.CALLS_PER_SECOND = 1000


def _timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def _run(*, contacts: int, in_flight: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from calls.models import Call
    from calls.services import place_call
    from campaigns.models import Campaign, CampaignContact, ContactState
    from campaigns.scheduler import campaigns_pass
    from campaigns.services import campaign_create, campaign_start
    from contacts.models import Contact

    always = {"days": list(range(7)), "hours": [["00:00", "24:00"]]}
    _, insert_s = _timed(lambda: Contact.objects.bulk_create(
        [Contact(phone_number=f"+3491{i:07d}", name=f"Contact {i}") for i in range(contacts)], batch_size=2000))
    print(f"reference: insert {contacts:,} contacts          {insert_s:7.2f} s")
    campaign, create_s = _timed(lambda: campaign_create(
        campaign=Campaign(name="Bench", window=always, time_zone="Europe/Madrid", max_in_flight=in_flight,
                          calls_per_second=1000), contacts=Contact.objects.all()))
    print(f"create a {contacts:,}-contact campaign      {create_s:7.2f} s  ({create_s / insert_s:.1f}x the insert)")
    now = timezone.now()
    _, start_s = _timed(lambda: campaign_start(campaign=campaign, now=now))
    print(f"start it (first times in the window)     {start_s:7.2f} s  ({start_s / insert_s:.2f}x the insert)")

    # `in_flight` contacts on a call: their calls placed for real, so the caps count them.
    busy = list(CampaignContact.objects.filter(campaign=campaign).order_by("pk")[:in_flight])
    for entry in busy:
        call = place_call(contact=entry.contact, campaign_id=campaign.pk, campaign_attempt=1)
        CampaignContact.objects.filter(pk=entry.pk).update(state=ContactState.CALLING, attempts=1, last_call=call)
    pending = CampaignContact.objects.filter(campaign=campaign, state=ContactState.PENDING).count()
    times = []
    for second in range(5):
        _, seconds = _timed(lambda: campaigns_pass(now=now + timedelta(seconds=second)))
        times.append(seconds)
    print(f"pass, {pending:,} pending, {in_flight} in flight, cap reached: "
          f"median {sorted(times)[2] * 1000:6.1f} ms (of 5)")

    Campaign.objects.filter(pk=campaign.pk).update(max_in_flight=in_flight + 10)
    with CaptureQueriesContext(connection) as queries:
        placed, seconds = _timed(lambda: campaigns_pass(now=now + timedelta(seconds=10)))
    print(f"pass that claims and dials {placed}:            {seconds * 1000:6.1f} ms "
          f"({seconds / max(placed, 1) * 1000:.1f} ms per call, FakeTwilio included)")
    extra = Contact.objects.bulk_create([Contact(phone_number=f"+3493{i:07d}") for i in range(10)])
    with CaptureQueriesContext(connection) as direct:
        _, direct_s = _timed(lambda: [place_call(contact=contact) for contact in extra])
    print(f"place_call alone, 10 calls:              {direct_s * 1000:6.1f} ms ({direct_s / len(extra) * 1000:.1f} ms "
          f"per call; the scheduler's pass {seconds / max(placed, 1) / (direct_s / len(extra)):.2f}x per call)")
    per_pass_call = len(queries) / max(placed, 1)
    per_direct = len(direct) / len(extra)
    print(f"queries per placed call: scheduler {per_pass_call:.1f} (whole pass / {placed}), "
          f"place_call alone {per_direct:.1f}  ({per_pass_call / per_direct:.2f}x)")
    assert Call.objects.filter(campaign=campaign).count() == in_flight + placed


if __name__ == "__main__":
    main()
