"""/api/call_histories, its xlsx export, and /api/users/{phone}/calls, through DRF's client."""
import datetime
import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from calls.models import Call, CallStatus
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db


def at(day: str, time: str = "12:00") -> datetime.datetime:
    return datetime.datetime.fromisoformat(f"{day}T{time}:00+00:00")


def make_call(created_at: datetime.datetime | None = None, **fields) -> Call:
    call = CallFactory(**fields)
    if created_at:
        Call.objects.filter(pk=call.pk).update(created_at=created_at)  # auto_now_add ignores the kwarg
        call.refresh_from_db()
    return call


def sids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [record["call_sid"] for record in response.json()]


def test_it_lists_call_records_newest_first_with_the_contact_phone(api):
    contact = ContactFactory(phone_number="+34600123456")
    old = make_call(at("2026-11-01"), contact=contact, duration=65.0, extracted_data={"place": "Madrid"})
    new = make_call(at("2026-11-02"), contact=contact, status=CallStatus.COMPLETED)

    response = api.get("/api/call_histories")

    assert sids(response) == [new.twilio_sid, old.twilio_sid]
    record = response.json()[1]
    assert record["phone_number"] == "+34600123456"
    assert record["extracted_info"] == {"place": "Madrid"}
    assert record["call_duration"] == 65.0
    assert set(record) >= {"timestamp", "call_sid", "call_status", "audio_file_name", "conversation"}


def test_it_includes_the_whole_end_day(api):
    before = make_call(at("2026-11-09", "23:59"))
    first_day = make_call(at("2026-11-10", "00:00"))
    last_evening = make_call(at("2026-11-12", "23:59"))
    after = make_call(at("2026-11-13", "00:00"))

    response = api.get("/api/call_histories", {"start_date": "2026-11-10", "end_date": "2026-11-12"})

    assert sids(response) == [last_evening.twilio_sid, first_day.twilio_sid]
    assert before.twilio_sid not in sids(response) and after.twilio_sid not in sids(response)


def test_it_accepts_the_date_pickers_slashed_days(api):
    wanted = make_call(at("2026-11-10", "23:00"))
    make_call(at("2026-11-11", "01:00"))

    assert sids(api.get("/api/call_histories", {"start_date": "2026/11/10", "end_date": "2026/11/10"})) == [
        wanted.twilio_sid
    ]


def test_it_accepts_iso_date_times_as_exact_bounds(api):
    morning = make_call(at("2026-11-10", "09:00"))
    make_call(at("2026-11-10", "15:00"))

    response = api.get("/api/call_histories", {"end_date": "2026-11-10T12:00:00+00:00"})

    assert sids(response) == [morning.twilio_sid]


def test_it_accepts_an_offset_whose_plus_was_decoded_as_a_space(api):
    evening = make_call(at("2026-11-10", "20:00"))
    make_call(at("2026-11-10", "08:00"))

    # 10:00+01:00 is 09:00 UTC; an unencoded `+` reaches the server as a space.
    response = api.get("/api/call_histories?start_date=2026-11-10T10:00:00+01:00")

    assert sids(response) == [evening.twilio_sid]


@pytest.mark.parametrize("param", ["start_date", "end_date"])
def test_it_rejects_an_unparseable_date_with_the_expected_format(api, param):
    response = api.get("/api/call_histories", {param: "25/11/2026"})

    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.json()["detail"]
    assert param in response.json()["detail"]


@pytest.mark.parametrize("typed", ["600123456", "+34 600 123 456", "0034600123456", "123 456", "34600"])
def test_it_finds_a_number_however_it_is_typed(api, typed):
    wanted = make_call(contact=ContactFactory(phone_number="+34600123456"))
    make_call(contact=ContactFactory(phone_number="+34699999999"))

    assert sids(api.get("/api/call_histories", {"phone_number": typed})) == [wanted.twilio_sid]


def test_it_finds_a_number_typed_with_a_national_trunk_prefix(api, settings):
    settings.DEFAULT_PHONE_REGION = "GB"
    wanted = make_call(contact=ContactFactory(phone_number="+447911123456"))

    assert sids(api.get("/api/call_histories", {"phone_number": "07911 123456"})) == [wanted.twilio_sid]


def test_it_filters_by_call_status(api):
    done = make_call(status=CallStatus.COMPLETED)
    make_call(status=CallStatus.BUSY)

    assert sids(api.get("/api/call_histories", {"call_status": "completed"})) == [done.twilio_sid]


def test_it_rejects_an_unknown_call_status(api):
    response = api.get("/api/call_histories", {"call_status": "exploded"})

    assert response.status_code == 400
    assert "call_status" in response.json()["detail"]


@pytest.mark.parametrize("keyword", ["madrid", "MADRID", "1200", "jardín", "JARDÍN", "terraza"])
def test_it_finds_a_keyword_in_any_extracted_value(api, keyword):
    wanted = make_call(extracted_data={
        "place": "Centro de Madrid", "budget": 1200, "other_requirements": ["Jardín", "Terraza"],
    })
    make_call(extracted_data={"place": "Sevilla", "budget": 800})
    make_call(extracted_data={})

    assert sids(api.get("/api/call_histories", {"extracted_info_keyword": keyword})) == [wanted.twilio_sid]


def test_it_does_not_match_extracted_field_names(api):
    make_call(extracted_data={"place": "Sevilla", "budget": 800})

    assert sids(api.get("/api/call_histories", {"extracted_info_keyword": "budget"})) == []


def test_it_combines_filters(api):
    contact = ContactFactory(phone_number="+34600123456")
    wanted = make_call(at("2026-11-10"), contact=contact, status="completed", extracted_data={"place": "Madrid"})
    make_call(at("2026-11-10"), contact=contact, status="busy", extracted_data={"place": "Madrid"})
    make_call(at("2026-11-10"), status="completed", extracted_data={"place": "Madrid"})

    response = api.get("/api/call_histories", {
        "start_date": "2026-11-10", "end_date": "2026-11-10", "phone_number": "600123456",
        "call_status": "completed", "extracted_info_keyword": "madrid",
    })

    assert sids(response) == [wanted.twilio_sid]


# Export

def workbook_rows(response) -> list[tuple]:
    assert response.status_code == 200, response.content
    return list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))


def test_it_exports_the_posted_rows_from_the_database(api):
    contact = ContactFactory(phone_number="+34600123456")
    call = make_call(at("2026-11-10", "10:30"), contact=contact, status="completed", duration=125.4,
                     conversation="Bot: Hola\nClient: Hola", extracted_data={"place": "Madrid", "budget": 900})
    make_call(extracted_data={"place": "Sevilla"})
    forged = {"call_sid": call.twilio_sid, "call_status": "=HYPERLINK(\"http://evil\")", "extracted_info": {"x": 1}}

    response = api.post("/api/call_histories/export", {"calls": [forged]}, format="json")

    today = timezone.localdate().strftime("%Y%m%d")
    assert response["Content-Disposition"] == f'attachment; filename="call_history_{today}.xlsx"'
    header, *rows = workbook_rows(response)
    assert header == ("Call Sid", "Phone Number", "Timestamp", "Call Status", "Call Duration", "Conversation",
                      "Place", "Budget", "Cost")
    assert rows == [(call.twilio_sid, "+34600123456", "2026-11-10T10:30:00+00:00", "completed", "2:05",
                     "Bot: Hola\nClient: Hola", "Madrid", 900, None)]


def test_it_exports_control_characters_xlsx_cannot_hold_by_dropping_them(api):
    call = make_call(conversation="Bot: Hola\x0b\nClient: \x01Hola", extracted_data={"place": "Ma\x02drid"})

    response = api.post("/api/call_histories/export", {"calls": [{"call_sid": call.twilio_sid}]}, format="json")

    assert response.status_code == 200
    (row,) = workbook_rows(response)[1:]
    assert row[5] == "Bot: Hola\nClient: Hola" and row[6] == "Madrid"


def test_it_exports_posted_rows_in_their_order_and_skips_unknown_sids(api):
    first, second = make_call(at("2026-11-01")), make_call(at("2026-11-02"))
    posted = [{"call_sid": first.twilio_sid}, {"call_sid": "CAunknown"}, {"call_sid": second.twilio_sid}]

    header, *rows = workbook_rows(api.post("/api/call_histories/export", {"calls": posted}, format="json"))

    assert [row[0] for row in rows] == [first.twilio_sid, second.twilio_sid]


def test_it_exports_the_union_of_extracted_fields(api):
    make_call(at("2026-11-10"), extracted_data={"place": "Madrid"})
    make_call(at("2026-11-11"), extracted_data={"budget": 900, "other_requirements": "garaje"})

    header, *rows = workbook_rows(api.post("/api/call_histories/export", {}, format="json"))

    assert header[6:-1] == ("Place", "Budget", "Other Requirements")  # the extraction schema's order, then Cost
    assert [row[6:-1] for row in rows] == [(None, 900, "garaje"), ("Madrid", None, None)]


def test_it_exports_with_the_list_filters(api):
    wanted = make_call(status="completed")
    make_call(status="busy")

    header, *rows = workbook_rows(api.post("/api/call_histories/export", {"call_status": "completed"}, format="json"))

    assert [row[0] for row in rows] == [wanted.twilio_sid]


def test_it_escapes_formulas_in_every_exported_cell(api):
    make_call(conversation="=cmd|' /C calc'!A0", extracted_data={"place": "@SUM(A1)", "-danger": "+1"})

    header, row = workbook_rows(api.post("/api/call_histories/export", {}, format="json"))

    assert row[5] == "'=cmd|' /C calc'!A0"
    assert row[6:-1] == ("'@SUM(A1)", "+1")
    assert header[7] == "'-Danger"


def test_it_refuses_calls_that_are_not_a_list(api):
    response = api.post("/api/call_histories/export", {"calls": "CA1"}, format="json")

    assert response.status_code == 400
    assert "list" in response.json()["detail"]


# /api/users/{phone_number}/calls

def test_it_returns_the_stored_call_for_a_make_call_response(api):
    call = make_call(contact=ContactFactory(phone_number="+34600123456"), status="completed", duration=30.0)
    body = {"call_sid": call.twilio_sid, "phone_number": "+34600123456", "call_status": "failed"}

    response = api.post("/api/users/600 123 456/calls", body, format="json")

    assert response.status_code == 200
    assert response.json()["call_sid"] == call.twilio_sid
    assert response.json()["call_status"] == "completed"  # ours, not the posted one
    assert Call.objects.count() == 1


def test_it_answers_404_for_another_users_call(api):
    call = make_call(contact=ContactFactory(phone_number="+34600123456"))
    ContactFactory(phone_number="+34611111111")

    response = api.post("/api/users/+34611111111/calls", {"call_sid": call.twilio_sid}, format="json")

    assert response.status_code == 404
    assert response.json() == {"detail": "Call not found for this user."}


def test_it_answers_404_for_an_unknown_call_sid(api):
    ContactFactory(phone_number="+34600123456")

    response = api.post("/api/users/+34600123456/calls", {"call_sid": "CAnope"}, format="json")

    assert response.status_code == 404
    assert Call.objects.count() == 0


def test_it_answers_400_for_an_invalid_number_or_a_missing_call_sid(api):
    bad_number = api.post("/api/users/12/calls", {"call_sid": "CA1"}, format="json")
    no_sid = api.post("/api/users/+34600123456/calls", {}, format="json")

    assert bad_number.status_code == 400 and "phone number" in bad_number.json()["detail"]
    assert no_sid.status_code == 400 and "call_sid" in no_sid.json()["detail"]
