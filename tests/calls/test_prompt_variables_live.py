"""A live call, through the consumer on a real socket to the fake Realtime: the prompt variables are filled in with
the callee's own values in `session.update` and in the opening line, which starts with the disclosure; a value the
callee lacks renders empty and is noted on the call's timeline."""
from __future__ import annotations


import pytest

from calls.models import CallEvent
from calls.prompt_variables import WEEKDAYS
from campaigns.models import Campaign, CampaignContact
from contacts.models import Contact
from tests.calls.test_consumers import live  # noqa: F401 (a fixture)
from tests.calls.test_profiles_live import call_session

pytestmark = pytest.mark.django_db(transaction=True)

PERSONA = ("Llamas a {{contact.name}} ({{contact.notes}}) de {{ contact.attributes.Ciudad }}, presupuesto "
           "{{contact.attributes.Presupuesto}}, campaña {{campaign.name}}; hoy es {{today}}, allí son las "
           "{{local_time}} ({{time_zone}}).")
OPENING = "Hola {{contact.name}}, ¿sigue buscando en {{contact.attributes.Ciudad}}?"


def write_agent(ai_dir, *, disclosure: str | None = None) -> None:
    path = ai_dir / "prompts" / "agent.yaml"
    extra = f"persona: '{PERSONA}'\nopening_line: '{OPENING}'\n"
    if disclosure is not None:
        extra += f"disclosure: '{disclosure}'\n"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")  # later keys win


async def test_the_callees_values_fill_the_session_and_the_opening_line(settings, live, ai_copy):  # noqa: F811
    write_agent(ai_copy)
    await Contact.objects.acreate(phone_number="+34600111222", name="Ana Ruiz", comments="Quiere terraza",
                                  attributes={"Ciudad": "Sevilla", "Presupuesto": 900})
    campaign = await Campaign.objects.acreate(name="Otoño", window={}, time_zone="Europe/Madrid")
    contact = await Contact.objects.aget(phone_number="+34600111222")
    # Staff set this callee's own zone on the campaign entry: it wins over the number's (Madrid and the Canaries).
    await CampaignContact.objects.acreate(campaign=campaign, contact=contact, time_zone="America/Bogota")
    session, opening, call = await call_session(settings, live, campaign=campaign)

    instructions = session["instructions"]
    assert instructions.startswith("Llamas a Ana Ruiz (Quiere terraza) de Sevilla, presupuesto 900, campaña Otoño;")
    assert "(America/Bogota)." in instructions and "{{" not in instructions
    said = opening["instructions"].split('"')[1]  # say_exactly's quoted line
    assert said.startswith("Esta llamada puede ser grabada")  # the disclosure first...
    assert said.endswith("Hola Ana Ruiz, ¿sigue buscando en Sevilla?")  # ...then the opening, rendered
    assert not await CallEvent.objects.filter(call=call, kind=CallEvent.Kind.PROMPT_VALUES_MISSING).aexists()


async def test_the_clock_is_the_callees_local_time(settings, live, ai_copy):  # noqa: F811
    from datetime import datetime
    from zoneinfo import ZoneInfo

    write_agent(ai_copy)
    settings.TIME_ZONE = "Europe/Madrid"  # of the number's two zones (Madrid, Canaries), the site's
    before = datetime.now(ZoneInfo("Europe/Madrid"))
    session, _, _ = await call_session(settings, live)
    after = datetime.now(ZoneInfo("Europe/Madrid"))
    shown = {f"hoy es {t:%Y-%m-%d} ({WEEKDAYS[t.weekday()]}), allí son las {t:%H:%M} (Europe/Madrid)" for t in (before, after)}
    assert any(text in session["instructions"] for text in shown), session["instructions"]


async def test_missing_values_render_empty_and_are_noted_on_the_call(settings, live, ai_copy):  # noqa: F811
    write_agent(ai_copy)
    session, opening, call = await call_session(settings, live)  # a new contact: no name, notes, attributes

    assert session["instructions"].startswith("Llamas a  () de , presupuesto , campaña ;")
    assert opening["instructions"].split('"')[1].endswith("Hola , ¿sigue buscando en ?")
    event = await CallEvent.objects.aget(call=call, kind=CallEvent.Kind.PROMPT_VALUES_MISSING)
    assert event.detail == {"variables": "contact.name, contact.notes, contact.attributes.Ciudad, "
                                         "contact.attributes.Presupuesto, campaign.name"}


async def test_an_empty_disclosure_says_none(settings, live, ai_copy):  # noqa: F811
    write_agent(ai_copy, disclosure="")
    await Contact.objects.acreate(phone_number="+34600111222", name="Ana", attributes={"Ciudad": "Sevilla"})
    _, opening, _ = await call_session(settings, live)
    assert opening["instructions"].split('"')[1] == "Hola Ana, ¿sigue buscando en Sevilla?"
