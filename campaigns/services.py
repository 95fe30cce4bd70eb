"""What staff and integrators do with a campaign: create it from contacts, start, pause, resume, cancel, and read
its progress. Every door (admin, API, command) comes here."""
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Count, Max, Min, Q, Sum
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from calls.models import Call
from campaigns.attempts import entry_schedule
from campaigns.models import IN_FLIGHT_STATES, Campaign, CampaignContact, CampaignState, ContactState, Outcome
from campaigns.windows import zones_for_number
from contacts.models import CallRefusal, Contact
from contacts.phones import InvalidPhoneNumber, normalize_phone

logger = logging.getLogger(__name__)

MAX_CONTACTS = 200_000
_BATCH = 2000


class CampaignStateError(Exception):
    """The campaign is not in a state that allows this (e.g. resuming a draft); the message says which."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@transaction.atomic
def campaign_create(*, campaign: Campaign, contact_ids: list[int] | None = None, contacts=None) -> Campaign:
    """Save `campaign` (a draft, its rules checked with full_clean) with one entry per contact.

    Contacts come as ids or a queryset. A contact marked do-not-call or rejected by the carrier gets an entry
    already done (refused), so the results show it; every refusal is asked again right before each dial. Raises
    ValidationError; CampaignStateError for an unknown contact id or too many contacts. Writes the Campaign and its
    CampaignContacts.
    """
    campaign.state = CampaignState.DRAFT
    campaign.full_clean()
    campaign.save()
    count, batch, now = 0, [], timezone.now()
    for contact_id, number, do_not_call, number_invalid in _contact_rows(contacts, contact_ids):
        count += 1
        if count > MAX_CONTACTS:
            raise CampaignStateError(_("A campaign takes at most %(max)s contacts.") % {"max": MAX_CONTACTS})
        batch.append(_entry_row(campaign, contact_id, number, do_not_call, number_invalid, now))
        if len(batch) >= _BATCH:
            _entries_insert(batch)
            batch = []
    _entries_insert(batch)
    if contacts is None and count != len(set(contact_ids or [])):
        raise CampaignStateError(_("%(count)s of the contact ids do not exist.")
                                 % {"count": len(set(contact_ids or [])) - count})
    logger.info("Campaign %s created with %s contacts", campaign.pk, count)
    return campaign


def _contact_rows(contacts, contact_ids: list[int] | None):
    """(id, number as stored text, do_not_call, number_invalid) of the contacts: the number as text, because a
    PhoneNumberField value would be parsed again for every row; ids read in chunks (PostgreSQL takes at most
    65,535 parameters a statement)."""
    def rows(queryset):
        return (queryset.order_by("pk").annotate(number=Cast("phone_number", output_field=CharField()))
                .values_list("pk", "number", "do_not_call", "number_invalid"))

    if contacts is not None:
        yield from rows(contacts).iterator(chunk_size=_BATCH)
        return
    ids = sorted(set(contact_ids or []))
    for start in range(0, len(ids), _BATCH):
        yield from rows(Contact.objects.filter(pk__in=ids[start:start + _BATCH]))


_ENTRY_COLUMNS = ("campaign_id", "contact_id", "state", "time_zone", "zones", "attempts", "last_result", "outcome",
                  "reason", "updated_at")


def _entry_row(campaign: Campaign, contact_id: int, number: str, do_not_call: bool, number_invalid: bool,
               now: datetime) -> tuple:
    zones = ",".join(zones_for_number(number, fallback=campaign.time_zone))[:400]
    refusal = CallRefusal.DO_NOT_CALL if do_not_call else CallRefusal.NUMBER_INVALID if number_invalid else None
    if refusal is None:
        return (campaign.pk, contact_id, ContactState.PENDING, "", zones, 0, "", "", "", now)
    return (campaign.pk, contact_id, ContactState.DONE, "", zones, 0, "", Outcome.REFUSED,
            _("Not called: %(reason)s.") % {"reason": refusal.label}, now)


def _entries_insert(rows: list[tuple]) -> None:
    """One executemany for a batch: Django's bulk_create spends ~10x longer building the SQL of 100,000 rows."""
    if not rows:
        return
    table = connection.ops.quote_name(CampaignContact._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in _ENTRY_COLUMNS)
    placeholders = ", ".join(["%s"] * len(_ENTRY_COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows)


def contact_ids_for_numbers(numbers: list[str]) -> list[int]:
    """The contacts of `numbers` (any usual format), created when new; raises CampaignStateError naming the numbers
    that are not valid (nothing is written then). Writes the new Contacts."""
    normalized, bad = [], []
    for raw in numbers:
        try:
            normalized.append(normalize_phone(raw))
        except InvalidPhoneNumber as exc:
            bad.append(exc.message)
    if bad:
        more = " " + _("(and %(count)s more)") % {"count": len(bad) - 5} if len(bad) > 5 else ""
        raise CampaignStateError(" ".join(bad[:5]) + more)
    wanted = list(dict.fromkeys(normalized))
    known = {}
    for start in range(0, len(wanted), _BATCH):
        chunk = Contact.objects.filter(phone_number__in=wanted[start:start + _BATCH])
        known.update(chunk.annotate(number=Cast("phone_number", output_field=CharField()))
                     .values_list("number", "pk"))
    new = [number for number in wanted if number not in known]
    Contact.objects.bulk_create([Contact(phone_number=number) for number in new], batch_size=_BATCH)
    ids = list(known.values())
    for start in range(0, len(new), _BATCH):
        ids += Contact.objects.filter(phone_number__in=new[start:start + _BATCH]).values_list("pk", flat=True)
    return ids


def campaign_draft_from_contacts(*, contacts, user, now: datetime | None = None) -> Campaign:
    """A draft campaign of `contacts` with the default rules, named after the moment (the admin's "Call selected
    contacts"); at most CALLS_PER_SECOND new calls per second. Writes what campaign_create writes."""
    now = timezone.localtime(now or timezone.now())
    name = base = f"Call of {now:%Y-%m-%d %H:%M:%S}"
    suffix = 1
    while Campaign.objects.filter(name=name).exists():
        suffix += 1
        name = f"{base} ({suffix})"
    campaign = Campaign(name=name, created_by=user, calls_per_second=min(1.0, settings.CALLS_PER_SECOND))
    return campaign_create(campaign=campaign, contacts=contacts)


@transaction.atomic
def campaign_start(*, campaign: Campaign, now: datetime | None = None) -> Campaign:
    """Draft -> running: every pending contact gets its first time inside the window. Raises CampaignStateError."""
    return _run(campaign=campaign, allowed=(CampaignState.DRAFT,), now=now or timezone.now(), verb="start")


@transaction.atomic
def campaign_resume(*, campaign: Campaign, now: datetime | None = None) -> Campaign:
    """Paused -> running, pending contacts rescheduled to the window (it may have been edited meanwhile)."""
    return _run(campaign=campaign, allowed=(CampaignState.PAUSED,), now=now or timezone.now(), verb="resume")


_CANNOT = {"start": gettext_lazy("Cannot start a %(state)s campaign."),
           "resume": gettext_lazy("Cannot resume a %(state)s campaign.")}


def _run(*, campaign: Campaign, allowed: tuple[str, ...], now: datetime, verb: str) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.state not in allowed:
        raise CampaignStateError(str(_CANNOT[verb]) % {"state": campaign.get_state_display().lower()})
    campaign.full_clean()
    campaign.state = CampaignState.RUNNING
    campaign.started_at = campaign.started_at or now
    campaign.save(update_fields=["state", "started_at"])
    entries_reschedule(campaign=campaign, now=now)
    logger.info("Campaign %s %sed", campaign.pk, verb.rstrip("e"))
    return campaign


def entries_reschedule(*, campaign: Campaign, now: datetime) -> int:
    """Pending contacts due before the window's next opening in their zones move to that opening (or are done when
    there is none). One computation and one UPDATE per distinct set of zones, so 100,000 contacts cost little."""
    pending = CampaignContact.objects.filter(campaign=campaign, state=ContactState.PENDING)
    moved = 0
    for zones, time_zone in pending.values_list("zones", "time_zone").distinct().order_by():
        sample = CampaignContact(campaign=campaign, zones=zones, time_zone=time_zone)
        step = entry_schedule(campaign=campaign, entry=sample, earliest=now)
        group = pending.filter(zones=zones, time_zone=time_zone)
        if step.state == ContactState.PENDING:
            group = group.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=step.next_attempt_at))
        moved += group.update(**{**step.fields(), "reason": step.reason})
    return moved


def entry_reschedule_one(*, entry: CampaignContact, now: datetime | None = None) -> None:
    """A pending contact of a running or paused campaign gets its next time from its (edited) zones."""
    campaign = entry.campaign
    if entry.state != ContactState.PENDING or campaign.state not in (CampaignState.RUNNING, CampaignState.PAUSED):
        return
    now = now or timezone.now()
    # A first attempt may move earlier; a retry keeps its delay.
    earliest = now if entry.attempts == 0 else max(now, entry.next_attempt_at or now)
    step = entry_schedule(campaign=campaign, entry=entry, earliest=earliest)
    CampaignContact.objects.filter(pk=entry.pk, state=ContactState.PENDING).update(**step.fields())


@transaction.atomic
def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Running -> paused: no new dial from now on (a claimed contact is put back); live calls finish."""
    changed = Campaign.objects.filter(pk=campaign.pk, state=CampaignState.RUNNING).update(state=CampaignState.PAUSED)
    if not changed:
        raise CampaignStateError(_("Only a running campaign can be paused."))
    logger.info("Campaign %s paused", campaign.pk)
    return Campaign.objects.get(pk=campaign.pk)


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, now: datetime | None = None) -> Campaign:
    """Draft, running or paused -> canceled: contacts not yet called are done (canceled); live calls are not hung
    up, and settle as they end."""
    now = now or timezone.now()
    open_states = (CampaignState.DRAFT, CampaignState.RUNNING, CampaignState.PAUSED)
    if not Campaign.objects.filter(pk=campaign.pk, state__in=open_states).update(state=CampaignState.CANCELED):
        raise CampaignStateError(_("Only a draft, running or paused campaign can be canceled."))
    CampaignContact.objects.filter(campaign=campaign, state=ContactState.PENDING).update(
        state=ContactState.DONE, outcome=Outcome.CANCELED, reason=_("The campaign was canceled."),
        next_attempt_at=None)
    if not CampaignContact.objects.filter(campaign=campaign).exclude(state=ContactState.DONE).exists():
        Campaign.objects.filter(pk=campaign.pk).update(finished_at=now)
    logger.info("Campaign %s canceled", campaign.pk)
    return Campaign.objects.get(pk=campaign.pk)


def campaigns_with_counts(campaigns):
    """`campaigns` annotated with total_count and done_count (the list's progress column), in one query."""
    return campaigns.annotate(total_count=Count("entries"),
                              done_count=Count("entries", filter=Q(entries__state=ContactState.DONE)))


@dataclass
class CampaignProgress:
    """Where a campaign stands: counts, rates and times, read in a handful of aggregate queries."""

    total: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    by_outcome: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    attempts: int = 0
    calls: int = 0
    answered: int = 0
    next_due: datetime | None = None
    estimated_finish: datetime | None = None

    @property
    def answer_rate(self) -> float | None:
        return round(self.answered / self.calls, 3) if self.calls else None

    @property
    def done(self) -> int:
        return self.by_state.get(ContactState.DONE, 0)

    def as_dict(self) -> dict:
        return {"total": self.total, "done": self.done, "by_state": self.by_state, "by_outcome": self.by_outcome,
                "in_flight": self.in_flight, "attempts": self.attempts, "calls": self.calls,
                "answered": self.answered, "answer_rate": self.answer_rate,
                "next_due": self.next_due, "estimated_finish": self.estimated_finish}


def campaign_progress(*, campaign: Campaign, now: datetime | None = None) -> CampaignProgress:
    now = now or timezone.now()
    entries = CampaignContact.objects.filter(campaign=campaign)
    progress = CampaignProgress()
    states, outcomes = Counter(), Counter()
    for state, outcome, count, attempts in (entries.values_list("state", "outcome")
                                            .annotate(n=Count("id"), a=Sum("attempts")).order_by()):
        states[state] += count
        if outcome:
            outcomes[outcome] += count
        progress.attempts += attempts or 0
    progress.total, progress.by_state, progress.by_outcome = sum(states.values()), dict(states), dict(outcomes)
    progress.in_flight = sum(states.get(s, 0) for s in IN_FLIGHT_STATES)
    progress.next_due = entries.filter(state=ContactState.PENDING).aggregate(m=Min("next_attempt_at"))["m"]
    calls = Call.objects.filter(campaign=campaign).aggregate(
        n=Count("id"), answered=Count("id", filter=Q(answered_at__isnull=False)),
        recent=Count("id", filter=Q(created_at__gte=now - timedelta(minutes=10))), last=Max("created_at"))
    progress.calls, progress.answered = calls["n"], calls["answered"]
    progress.estimated_finish = _estimated_finish(campaign, progress, recent=calls["recent"], now=now)
    return progress


def _estimated_finish(campaign: Campaign, progress: CampaignProgress, *, recent: int, now: datetime):
    """Remaining contacts at the pace of the last 10 minutes (or the campaign's rate when idle); None when done
    or not running. Retries and windows make it a floor, not a promise."""
    remaining = progress.total - progress.done
    if not remaining or campaign.state != CampaignState.RUNNING:
        return None
    per_second = recent / 600 if recent else campaign.calls_per_second
    start = max(now, progress.next_due) if progress.next_due else now
    return start + timedelta(seconds=remaining / per_second)
