"""Background entry points (django-q2): ids in, one service out. Enqueued by dotted path from services."""
from calls import services
from calls.models import Call
from calls.services import webhook_spool
from contacts.models import Contact


def place_call(contact_id: int) -> int:
    """Dial one contact; returns the new call's id."""
    return services.place_call(contact=Contact.objects.get(id=contact_id)).id


def call_hang_up(call_id: int) -> None:
    services.call_hang_up(call=Call.objects.get(id=call_id))


def call_reconcile_stale() -> int:
    """Scheduled by `setup_schedules`: settle calls whose final callback never came."""
    return services.call_reconcile_stale()


def twilio_callbacks_apply_spooled() -> int:
    """Scheduled every minute by `setup_schedules`: apply the Twilio callbacks kept while the database refused them."""
    return webhook_spool.twilio_callbacks_apply_spooled()


def opening_audio_render(profile: str) -> str | None:
    """Queued by a live call that found its opening line not rendered yet: render it for the next calls."""
    from calls.opening_audio import opening_audio_render_profile

    path = opening_audio_render_profile(profile)
    return None if path is None else str(path)
