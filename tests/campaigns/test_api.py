"""/api/campaigns/: create from contact ids, read with progress, state actions, results; each door's permissions."""
import csv
import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.test import APIClient

from calls.models import Call
from campaigns.models import Campaign, CampaignContact, CampaignState
from campaigns.scheduler import campaigns_pass
from contacts.models import Contact
from tests.campaigns.helpers import ALWAYS, TEN_TO_TWO, campaign_of, end_call, madrid_contacts, utc
from tests.factories import ContactFactory
from tests.conftest import role_group

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _rates(settings):
    settings.CALLS_PER_SECOND = 10


def create(api, contacts, **rules):
    body = {"name": "Summer", "contact_ids": [c.pk for c in contacts], "window": ALWAYS, **rules}
    return api.post("/api/campaigns/", body, format="json")


def client_for(django_user_model, role: str | None) -> APIClient:
    user = django_user_model.objects.create_user(f"u-{role}", is_staff=True)
    if role:
        user.groups.add(role_group(role))
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_supervisor_creates_starts_and_follows_a_campaign(api, client, fake_twilio):
    contacts = madrid_contacts(3)
    response = create(api, contacts, max_in_flight=2, calls_per_second=5)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "draft" and body["progress"]["total"] == 3 and body["progress"]["by_state"] == {
        "pending": 3}
    started = api.post(f"/api/campaigns/{body['id']}/start/")
    assert started.status_code == 200 and started.json()["state"] == "running"
    campaigns_pass(now=timezone.now())
    end_call(client, fake_twilio, Call.objects.first(), "completed", duration=30)
    progress = api.get(f"/api/campaigns/{body['id']}/").json()["progress"]
    assert progress["in_flight"] == 1 and progress["by_outcome"] == {"succeeded": 1} and progress["calls"] == 2
    assert progress["attempts"] == 2 and progress["next_due"] is not None
    assert [c["name"] for c in api.get("/api/campaigns/").json()] == ["Summer"]


def test_actions_follow_the_state_machine(api):
    campaign_id = create(api, madrid_contacts(1)).json()["id"]
    assert api.post(f"/api/campaigns/{campaign_id}/pause/").status_code == 409
    assert api.post(f"/api/campaigns/{campaign_id}/resume/").json()["detail"] == "Cannot resume a draft campaign."
    assert api.post(f"/api/campaigns/{campaign_id}/start/").status_code == 200
    assert api.post(f"/api/campaigns/{campaign_id}/pause/").json()["state"] == "paused"
    assert api.post(f"/api/campaigns/{campaign_id}/resume/").json()["state"] == "running"
    assert api.post(f"/api/campaigns/{campaign_id}/cancel/").json()["state"] == "canceled"
    assert api.post(f"/api/campaigns/{campaign_id}/start/").status_code == 409
    assert Campaign.objects.get().state == CampaignState.CANCELED


@pytest.mark.parametrize("rules, field", [
    ({"window": {"days": [], "hours": []}}, "window"),
    ({"calls_per_second": 50}, "calls_per_second"),
    ({"max_in_flight": 0}, "max_in_flight"),
    ({"retry_delays": {"busy": 5}}, "retry_delays"),
    ({"retry_delays": {"lunch": 600}}, "retry_delays"),
    ({"success_rule": "extracted"}, "required_fields"),
    ({"required_fields": ["shoe_size"]}, "required_fields"),
    ({"profile": "../secrets"}, "profile"),
    ({"profile": "sales"}, "profile"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"contact_ids": [999999]}, "contact_ids"),
    ({"contact_ids": []}, "contact_ids"),
])
def test_bad_rules_are_refused_with_the_reason_and_nothing_is_written(api, rules, field):
    response = create(api, madrid_contacts(1), **rules)
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert not Campaign.objects.exists()


def test_a_profile_is_a_folder_under_ai_profiles(api, ai_copy):
    (ai_copy / "profiles" / "sales").mkdir()
    assert create(api, madrid_contacts(1), profile="sales").json()["profile"] == "sales"


def test_a_broken_profile_is_refused_naming_the_file_and_nothing_is_written(api, ai_copy):
    broken = ai_copy / "profiles" / "sales" / "tools" / "tools.yaml"
    broken.parent.mkdir(parents=True)
    broken.write_text("tools: []\n", encoding="utf-8")
    response = create(api, madrid_contacts(1), profile="sales")
    assert response.status_code == 400
    detail = str(response.json()["detail"])
    assert "profile" in detail and str(broken) in detail and "end_call" in detail
    assert not Campaign.objects.exists()


def test_a_name_is_used_once(api):
    create(api, madrid_contacts(1))
    assert create(api, madrid_contacts(1, start=5)).status_code == 400


def test_results_one_row_per_contact_in_csv_and_xlsx(api, client, fake_twilio):
    contacts = madrid_contacts(2)
    campaign_id = create(api, contacts).json()["id"]
    api.post(f"/api/campaigns/{campaign_id}/start/")
    campaigns_pass(now=timezone.now())
    call = Call.objects.get(contact=contacts[0])
    end_call(client, fake_twilio, call, "completed", duration=30)
    Call.objects.filter(pk=call.pk).update(extracted_data={"budget": 900, "place": "=HYPERLINK(1)"})
    Contact.objects.filter(pk=contacts[1].pk).update(do_not_call_quote="No me llamen más")
    response = api.get(f"/api/campaigns/{campaign_id}/results/")
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 2
    first = next(row for row in rows if row["Phone Number"] == str(contacts[0].phone_number))
    assert (first["Outcome"], first["Attempts"], first["Last Call Sid"], first["Budget"]) == (
        "Succeeded", "1", call.twilio_sid, "900")
    assert first["Place"].startswith("'")  # a formula is escaped
    assert [row["Do Not Call Quote"] for row in rows] == ["", "No me llamen más"]
    xlsx = api.get(f"/api/campaigns/{campaign_id}/results/", {"file_format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row == 3 and sheet.cell(1, 1).value == "Phone Number"
    assert api.get(f"/api/campaigns/{campaign_id}/results/", {"file_format": "pdf"}).status_code == 400


def test_agents_may_read_but_not_manage(django_user_model, api):
    campaign_id = create(api, madrid_contacts(1)).json()["id"]
    agent = client_for(django_user_model, "Agents")
    assert agent.get("/api/campaigns/").status_code == 200
    assert agent.get(f"/api/campaigns/{campaign_id}/").status_code == 200
    assert agent.post(f"/api/campaigns/{campaign_id}/start/").status_code == 403
    assert agent.post("/api/campaigns/", {"name": "x", "contact_ids": [1]}, format="json").status_code == 403
    assert agent.get(f"/api/campaigns/{campaign_id}/results/").status_code == 403


def test_staff_without_a_role_get_nothing(django_user_model, api):
    campaign_id = create(api, madrid_contacts(1)).json()["id"]
    nobody = client_for(django_user_model, None)
    assert nobody.get("/api/campaigns/").status_code == 403
    assert nobody.get(f"/api/campaigns/{campaign_id}/").status_code == 403
    assert nobody.post(f"/api/campaigns/{campaign_id}/cancel/").status_code == 403
    assert APIClient().get("/api/campaigns/").status_code == 401


def test_the_schema_documents_the_campaign_routes(api):
    paths = api.get("/api/schema/", {"format": "json"}).json()["paths"]
    assert {"/api/campaigns/", "/api/campaigns/{id}/", "/api/campaigns/{id}/start/", "/api/campaigns/{id}/pause/",
            "/api/campaigns/{id}/resume/", "/api/campaigns/{id}/cancel/", "/api/campaigns/{id}/results/"} <= set(
        paths)


def test_a_campaign_by_phone_numbers_makes_the_new_contacts(api):
    known = madrid_contacts(1)[0]
    body = {"name": "By number", "phone_numbers": [str(known.phone_number), "0034 910 000 777", "910000777"],
            "window": ALWAYS}
    response = api.post("/api/campaigns/", body, format="json")
    assert response.status_code == 201 and response.json()["progress"]["total"] == 2
    assert Campaign.objects.get().entries.filter(contact__phone_number="+34910000777").exists()


def test_bad_numbers_are_named_and_nothing_is_written(api):
    body = {"name": "Bad", "phone_numbers": ["910000778", "12"], "window": ALWAYS}
    response = api.post("/api/campaigns/", body, format="json")
    assert response.status_code == 400 and "'12' is not a valid phone number" in response.json()["detail"]
    assert not Campaign.objects.exists() and not Contact.objects.filter(phone_number="+34910000778").exists()
    both = {"name": "Both", "phone_numbers": ["910000778"], "contact_ids": [1]}
    assert "one of them" in api.post("/api/campaigns/", both, format="json").json()["detail"]


def test_a_profiles_own_extraction_schema_is_checked_and_names_the_required_fields(api, ai_copy):
    extraction = ai_copy / "profiles" / "sales" / "prompts" / "extraction.yaml"
    extraction.parent.mkdir(parents=True)
    extraction.write_text("schema: tests.extraction.custom_schema.NotAModel\n", encoding="utf-8")
    contacts = madrid_contacts(1)
    refused = create(api, contacts, profile="sales")
    assert refused.status_code == 400 and "NotAModel' is not a Pydantic model" in str(refused.json()["detail"])
    extraction.write_text("schema: tests.extraction.custom_schema.ViewingRequest\n", encoding="utf-8")
    rules = {"success_rule": "extracted", "required_fields": ["wants_viewing"]}
    assert create(api, contacts, profile="sales", **rules).status_code == 201
    unknown = create(api, contacts, name="Default", **rules)  # AI/'s schema has no such field
    assert unknown.status_code == 400 and "Unknown fields wants_viewing" in str(unknown.json()["detail"])


def test_a_contacts_own_time_zone_is_read_and_set_through_the_api(api):
    contact = ContactFactory(phone_number="+34600000001")  # a mobile: Madrid and the Canaries
    monday = utc(2027, 6, 14, 0, 0)  # ahead of the real clock the API uses
    campaign = campaign_of([contact], window=TEN_TO_TWO, starts_at=monday, start=monday, calls_per_second=1)
    url = f"/api/campaigns/{campaign.pk}/contacts/{contact.pk}/"
    entry = api.get(url).json()
    assert (entry["phone_number"], entry["time_zone"], entry["zones"], entry["state"]) == (
        "+34600000001", "", "Atlantic/Canary,Europe/Madrid", "pending")
    assert entry["next_attempt_at"] == "2027-06-14T09:00:00Z"  # 10:00 in the Canaries: inside in both

    wrong = api.patch(url, {"time_zone": "Mars/Base"}, format="json")
    assert wrong.status_code == 400 and "not a time zone" in wrong.json()["detail"]
    assert api.get(url).json() == entry, "a refused zone changes nothing"
    changed = api.patch(url, {"time_zone": " Europe/Madrid ", "state": "done", "attempts": 9}, format="json")
    assert changed.status_code == 200, changed.json()
    body = changed.json()
    assert (body["time_zone"], body["state"], body["attempts"]) == ("Europe/Madrid", "pending", 0)
    assert body["next_attempt_at"] == "2027-06-14T08:00:00Z", "rescheduled at once in its own zone"
    assert api.patch(url, {"time_zone": ""}, format="json").json()["next_attempt_at"] == "2027-06-14T09:00:00Z"
    assert api.get(f"/api/campaigns/{campaign.pk}/contacts/{contact.pk + 1}/").status_code == 404
    assert api.get(f"/api/campaigns/{campaign.pk}/contacts/{2**63}/").status_code == 404


def test_agents_read_a_contacts_run_but_cannot_set_its_time_zone(django_user_model):
    contact = madrid_contacts(1)[0]
    campaign = campaign_of([contact], calls_per_second=1)
    url = f"/api/campaigns/{campaign.pk}/contacts/{contact.pk}/"
    agent = client_for(django_user_model, "Agents")
    assert agent.get(url).status_code == 200
    assert agent.patch(url, {"time_zone": "Europe/London"}, format="json").status_code == 403
    assert client_for(django_user_model, None).get(url).status_code == 403
    assert CampaignContact.objects.get(contact=contact).time_zone == ""
