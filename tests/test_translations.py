"""The admin in Spanish (LANGUAGE_CODE=es): locale/es holds a translation of every string our code marks, the
committed .mo says the same as the .po, and the pages staff open show them.

The catalogue is kept with Django's own commands (README, "Language"):
    manage.py makemessages -l es --ignore=tests --ignore=bench   then translate, then   manage.py compilemessages
"""
import ast
import gettext
import os
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.utils import translation

from calls.models import CallEvent
from tests.factories import CallFactory, ContactFactory

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
MAKEMESSAGES = ["makemessages", "-l", "es", "--ignore=tests", "--ignore=bench"]
# What a copy of the code for makemessages leaves out: the catalogue itself, tests, data and build leftovers.
NOT_CODE = shutil.ignore_patterns(".*", "tests", "bench", "locale", "__pycache__", "media", "var", "staticfiles",
                                  "call_results", "test-artifacts", "*.sqlite3*", "node_modules")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdrf]|\{\w*\}")


@dataclass(frozen=True)
class Entry:
    msgid: str
    plural: str | None
    msgstr: tuple[str, ...]
    fuzzy: bool


def po_entries(path: Path) -> list[Entry]:
    """The live entries of a .po file (obsolete `#~` ones left out), header excluded."""
    entries, fields, fuzzy, current = [], {}, False, None

    def close() -> None:
        if "msgid" in fields and fields["msgid"]:
            strings = tuple(v for k, v in sorted(fields.items()) if k.startswith("msgstr"))
            entries.append(Entry(fields["msgid"], fields.get("msgid_plural"), strings, fuzzy))

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            close()
            fields, fuzzy, current = {}, False, None
        elif line.startswith("#,"):
            fuzzy = fuzzy or "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            fields[current] += ast.literal_eval(line)
        else:
            current, _, value = line.partition(" ")
            fields[current] = ast.literal_eval(value)
    return entries


def test_every_entry_is_translated_and_none_is_fuzzy():
    entries = po_entries(PO)

    assert len(entries) > 300
    untranslated = [entry.msgid for entry in entries if not all(entry.msgstr)]
    fuzzy = [entry.msgid for entry in entries if entry.fuzzy]
    assert untranslated == [], f"untranslated in {PO.relative_to(ROOT)}: {untranslated}"
    assert fuzzy == [], f"fuzzy (check them, then drop the flag) in {PO.relative_to(ROOT)}: {fuzzy}"


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def test_each_translation_keeps_the_placeholders_of_its_source():
    """A lost or misspelt %(name)s would fail (or show the wrong value) only when the page is rendered."""
    wrong = [entry.msgid for entry in po_entries(PO)
             if any(placeholders(text) != placeholders(entry.plural or entry.msgid) for text in entry.msgstr)]
    assert wrong == []


def test_the_committed_mo_says_what_the_po_says():
    """A .po edited without `compilemessages` would never show: Django reads only the .mo."""
    with MO.open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    entries = po_entries(PO)

    def says(entry: Entry) -> tuple[str, ...]:
        if entry.plural is None:
            return (compiled.gettext(entry.msgid),)
        return compiled.ngettext(entry.msgid, entry.plural, 1), compiled.ngettext(entry.msgid, entry.plural, 2)

    stale = [entry.msgid for entry in entries if says(entry) != entry.msgstr]
    assert stale == [], f"run `manage.py compilemessages`: {MO.relative_to(ROOT)} differs from the .po on {stale}"
    compiled_ids = {key[0] if isinstance(key, tuple) else key for key in compiled._catalog} - {""}
    assert compiled_ids == {entry.msgid for entry in entries}


@pytest.mark.skipif(shutil.which("xgettext") is None,
                    reason="xgettext (Debian's gettext) is not installed: `make test` installs it; without it the "
                           "strings marked in the code cannot be listed")
def test_every_string_marked_in_our_code_is_in_the_catalogue(tmp_path):
    """makemessages over a copy of the code: a string marked since the catalogue was last updated is named here."""
    copy = tmp_path / "voicebot"
    shutil.copytree(ROOT, copy, ignore=NOT_CODE)
    env = {**os.environ, "SECRET_KEY": secrets.token_urlsafe(50), "SQLITE_PATH": str(tmp_path / "db.sqlite3")}
    result = subprocess.run([sys.executable, "manage.py", *MAKEMESSAGES], cwd=copy, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

    marked = {(entry.msgid, entry.plural) for entry in po_entries(copy / "locale" / "es" / "LC_MESSAGES" / "django.po")}
    catalogue = {(entry.msgid, entry.plural) for entry in po_entries(PO)}
    missing = sorted(marked - catalogue)
    assert len(marked) > 300
    assert missing == [], (
        f"{len(missing)} marked string(s) not in {PO.relative_to(ROOT)}; run `manage.py {' '.join(MAKEMESSAGES)}`, "
        "translate them, then `manage.py compilemessages`:\n" + "\n".join(repr(msgid) for msgid, _ in missing))


# Through the real door: the pages staff open, with the deployment's LANGUAGE_CODE set to Spanish.

@pytest.fixture
def spanish(settings):
    settings.LANGUAGE_CODE = "es"
    yield
    translation.deactivate()


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def assert_shown_in_spanish(html: str, spanish_english: dict[str, str]) -> None:
    for spanish_text, english_text in spanish_english.items():
        assert spanish_text in html, spanish_text
        assert english_text not in html, english_text


@pytest.mark.django_db
def test_the_admin_home_and_its_dashboard_speak_spanish(admin_client_logged, spanish):
    html = page(admin_client_logged, "/admin/")

    assert_shown_in_spanish(html, {
        'aria-label="Panel de llamadas"': 'aria-label="Calls dashboard"', "Últimos 7 días": "Last 7 days",
        "Tasa de respuesta": "Answer rate", "Tiempo medio de conversación": "Average talk time",
        ">Secciones<": ">Sections<", "Llamadas en curso ahora": "Calls in flight now",
        "Contactos y llamadas": "Contacts and calls", "Webhooks salientes": "Webhooks out",
        ">Contactos de campaña<": ">Campaign contacts<", ">Entregas<": ">Deliveries<",
    })
    assert "Acciones recientes" in html  # Django's own strings follow the same setting


@pytest.mark.django_db
def test_the_contacts_list_speaks_spanish(admin_client_logged, spanish):
    ContactFactory(name="Ana", phone_number="+34600123456")
    ContactFactory(name="Luis", phone_number="+34600123457", do_not_call=True)

    html = page(admin_client_logged, "/admin/contacts/contact/")

    assert_shown_in_spanish(html, {
        "Se le puede llamar": "Can be called", "Importar contactos": "Import contacts",
        "historial de llamadas": "call history", "Nunca llamado": "Never called", "No: no llamar": "No: do not call",
        "Marcar los contactos seleccionados como «no llamar»": "Mark selected contacts as do not call",
        "Buscar por número de teléfono": "Search by phone number", "Última llamada el": "Last called at",
    })
    assert ">Sí<" in html


@pytest.mark.django_db
def test_the_calls_list_speaks_spanish(admin_client_logged, spanish):
    CallFactory(status="completed", end_reason="bot_hangup", duration=65)
    CallFactory(status="ringing")

    html = page(admin_client_logged, "/admin/calls/call/")

    assert_shown_in_spanish(html, {
        '<span class="call-status call-status--completed">Completada</span>': ">Completed</span>",
        "El bot se despidió": "The bot said goodbye", ">Ver en directo<": ">Watch live<",
        "Sin procesar": "Not processed", "Exportar las llamadas seleccionadas a CSV": "Export selected calls to CSV",
        "Subir una grabación": "Upload a recording", "tiempo de conversación": "talk time",
    })


@pytest.mark.django_db
def test_a_call_page_speaks_spanish(admin_client_logged, spanish):
    call = CallFactory(status="completed", end_reason="callee_hangup", extracted_data={"place": "Madrid"},
                       processing={"status": "done", "steps": {"extract": {"status": "done", "attempts": 2}}})
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.BARGE_IN)

    html = page(admin_client_logged, f"/admin/calls/call/{call.pk}/change/")

    assert_shown_in_spanish(html, {
        "Tiempos": "Timing", "Datos extraídos": "Extracted data", "Grabación": ">Recording<",
        "Qué pasó": "What happened", "El destinatario interrumpió": "The callee interrupted",
        "El destinatario colgó": "The callee hung up", "Repetir la transcripción y la extracción":
        "Re-run transcription and extraction", "(1 reintento)": "(1 retry)", "Extraer": ">Extract<",
        "Aún sin transcribir.": "Not transcribed yet.",
    })


@pytest.mark.django_db
def test_the_live_panel_hands_its_scripts_spanish_words(admin_client_logged, spanish):
    """static/calls/live_call.js and live_listen.js write the words the page gives them (data-text-*)."""
    call = CallFactory(status="in-progress")

    html = page(admin_client_logged, f"/admin/calls/call/{call.pk}/change/")

    assert_shown_in_spanish(html, {
        'data-text-live="En directo"': 'data-text-live="Live"', 'data-text-reconnecting="Reconectando…"': "Reconnecting",
        'data-text-stop="Dejar de escuchar"': "Stop listening", ">Colgar</button>": ">Hang up</button>",
    })


def test_start_up_refuses_a_language_we_have_no_translation_for(tmp_path):
    env = {**os.environ, "SECRET_KEY": secrets.token_urlsafe(50), "SQLITE_PATH": str(tmp_path / "db.sqlite3")}

    refused = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env={**env, "LANGUAGE_CODE": "fr"},
                             capture_output=True, text=True, timeout=120)
    spanish = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env={**env, "LANGUAGE_CODE": "es"},
                             capture_output=True, text=True, timeout=120)

    assert refused.returncode != 0
    assert "LANGUAGE_CODE must be one of en, en-us, es (English or Spanish), not 'fr'." in refused.stderr
    assert spanish.returncode == 0, spanish.stderr
