"""Campaigns in the admin: made from selected contacts, rules edited in friendly fields, started / paused / resumed /
canceled from the progress page, which refreshes itself; results exported; every view checks the role."""
import csv
import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.utils import timezone

from calls.models import Call
from campaigns.models import Campaign, CampaignState
from campaigns.scheduler import campaigns_pass
from tests.campaigns.helpers import campaign_of, madrid_contacts, utc
from tests.conftest import role_group
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

CONTACTS_URL = "/admin/contacts/contact/"


@pytest.fixture(autouse=True)
def _rates(settings):
    settings.CALLS_PER_SECOND = 100


@pytest.fixture
def supervisor(client, staff_user) -> Client:
    client.force_login(staff_user)
    return client


@pytest.fixture
def agent(django_user_model) -> Client:
    user = django_user_model.objects.create_user("agent", is_staff=True)
    user.groups.add(role_group("Agents"))
    client = Client()
    client.force_login(user)
    return client


def progress_url(campaign: Campaign) -> str:
    return f"/admin/campaigns/campaign/{campaign.pk}/progress/"


def rules_form(**changes) -> dict:
    form = {"name": "Spring", "profile": "", "success_rule": "completed", "required_fields": "",
            "starts_at_0": "", "starts_at_1": "", "ends_at_0": "", "ends_at_1": "", "days": ["0", "1", "2"],
            "hours": "09:30-13:00, 16:00-19:30", "time_zone": "Europe/Madrid", "max_in_flight": "3",
            "calls_per_second": "0.5", "max_attempts": "2", "retry_busy": "15", "retry_no_answer": "90",
            "retry_failed": "", "retry_voicemail": "120", "retry_ai_unavailable": "30", "retry_stream_lost": "30"}
    return {**form, **changes}


def test_call_selected_contacts_makes_a_draft_campaign_and_opens_it(supervisor, fake_twilio):
    contacts = [*madrid_contacts(2), ContactFactory(do_not_call=True)]
    response = supervisor.post(CONTACTS_URL, {"action": "call_contacts", "index": 0,
                                              ACTION_CHECKBOX_NAME: [c.pk for c in contacts]}, follow=True)
    campaign = Campaign.objects.get()
    assert response.redirect_chain[-1][0] == f"/admin/campaigns/campaign/{campaign.pk}/change/"
    assert campaign.state == CampaignState.DRAFT and campaign.entries.count() == 3
    shown = [str(m) for m in response.context["messages"]]
    assert any("with 3 contact(s), 1 of whom may not be called" in m for m in shown)
    assert not fake_twilio.calls  # nothing dials before Start


def test_the_rules_are_edited_in_plain_fields(supervisor):
    campaign = campaign_of(madrid_contacts(1), required_fields=["budget", "place"])
    shown = supervisor.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").context["adminform"].form
    assert (shown.initial["required_fields"], shown.initial["hours"], shown.initial["retry_busy"]) == (
        "budget, place", "00:00-24:00", 30)
    response = supervisor.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", rules_form())
    assert response.status_code == 302 and response.url == progress_url(campaign)
    campaign.refresh_from_db()
    assert campaign.window == {"days": [0, 1, 2], "hours": [["09:30", "13:00"], ["16:00", "19:30"]]}
    assert campaign.retry_delays == {"busy": 900, "no_answer": 5400, "failed": None, "voicemail": 7200,
                                     "ai_unavailable": 1800, "stream_lost": 1800}
    assert (campaign.max_in_flight, campaign.calls_per_second, campaign.max_attempts) == (3, 0.5, 2)


@pytest.mark.parametrize("changes, field, words", [
    ({"hours": "14:00-10:00"}, "hours", "start must come before"),
    ({"hours": "morning"}, "hours", "not a range"),
    ({"calls_per_second": "500"}, "calls_per_second", "CALLS_PER_SECOND"),
    ({"success_rule": "extracted"}, "required_fields", "Name the extracted fields"),
])
def test_bad_rules_are_shown_next_to_their_field(supervisor, changes, field, words):
    campaign = campaign_of(madrid_contacts(1))
    response = supervisor.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", rules_form(**changes))
    assert response.status_code == 200
    assert words in " ".join(response.context["adminform"].form.errors[field])


def test_a_broken_agent_profile_is_refused_naming_the_file(supervisor, ai_copy):
    campaign = campaign_of(madrid_contacts(1))
    broken = ai_copy / "profiles" / "ventas" / "prompts" / "agent.yaml"
    broken.write_text("persona: [unclosed\n", encoding="utf-8")
    response = supervisor.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", rules_form(profile="ventas"))
    assert response.status_code == 200
    shown = " ".join(response.context["adminform"].form.errors["profile"])
    assert str(broken) in shown and "not valid YAML" in shown
    campaign.refresh_from_db()
    assert campaign.profile == ""
    broken.write_text("opening_line: Hola, soy Carlos.\n", encoding="utf-8")  # fixed: now it saves
    assert supervisor.post(f"/admin/campaigns/campaign/{campaign.pk}/change/",
                           rules_form(profile="ventas")).status_code == 302
    campaign.refresh_from_db()
    assert campaign.profile == "ventas"


def test_the_profile_is_picked_from_the_folders_under_ai_profiles(supervisor, ai_copy):
    (ai_copy / "profiles" / "soporte").mkdir()  # a profile added while running: offered at once
    campaign = campaign_of(madrid_contacts(1))
    url = f"/admin/campaigns/campaign/{campaign.pk}/change/"
    choices = supervisor.get(url).context["adminform"].form.fields["profile"].choices
    assert choices == [("", "Default agent (AI/)"), ("soporte", "soporte"), ("ventas", "ventas")]
    response = supervisor.post(url, rules_form(profile="../ventas"))
    assert "Select a valid choice" in " ".join(response.context["adminform"].form.errors["profile"])
    assert supervisor.post(url, rules_form(profile="soporte")).status_code == 302
    campaign.refresh_from_db()
    assert campaign.profile == "soporte"


def test_start_pause_resume_cancel_from_the_progress_page(supervisor, fake_twilio):
    campaign = campaign_of(madrid_contacts(2))
    page = supervisor.get(progress_url(campaign)).content.decode()
    assert 'value="Start"' in page and 'value="Pause"' not in page and 'http-equiv="refresh"' not in page
    supervisor.post(f"/admin/campaigns/campaign/{campaign.pk}/do/start/")
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.RUNNING
    campaigns_pass(now=timezone.now())
    page = supervisor.get(progress_url(campaign)).content.decode()
    assert 'http-equiv="refresh" content="5"' in page and 'value="Pause"' in page
    assert '<td id="progress-in-flight">2</td>' in page
    assert page.count("/admin/calls/call/") >= 2  # the campaign's calls, linked
    for action, state in (("pause", "paused"), ("resume", "running"), ("cancel", "canceled")):
        response = supervisor.post(f"/admin/campaigns/campaign/{campaign.pk}/do/{action}/", follow=True)
        campaign.refresh_from_db()
        assert campaign.state == state and response.status_code == 200
    assert not any(call.hung_up for call in fake_twilio.calls.values())


def test_a_running_campaigns_rules_are_read_only(supervisor):
    campaign = campaign_of(madrid_contacts(1), start=timezone.now())
    page = supervisor.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'name="hours"' not in page and "Mon, Tue, Wed, Thu, Fri, Sat, Sun 00:00-24:00" in page
    assert "busy: 30 min; no answer: 120 min" in page
    supervisor.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", rules_form(max_in_flight="99"))
    campaign.refresh_from_db()
    assert campaign.max_in_flight == 10


def test_a_wrong_state_says_why(supervisor):
    campaign = campaign_of(madrid_contacts(1))
    response = supervisor.post(f"/admin/campaigns/campaign/{campaign.pk}/do/pause/", follow=True)
    assert "Only a running campaign can be paused." in [str(m) for m in response.context["messages"]]


def test_results_export_from_the_admin(supervisor, fake_twilio):
    campaign = campaign_of(madrid_contacts(2), start=timezone.now())
    campaigns_pass(now=timezone.now())
    response = supervisor.get(f"/admin/campaigns/campaign/{campaign.pk}/results.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 2 and {row["Last Call Sid"] for row in rows} == set(
        Call.objects.values_list("twilio_sid", flat=True))
    assert supervisor.get(f"/admin/campaigns/campaign/{campaign.pk}/results.xlsx")["Content-Type"].endswith("sheet")


def test_agents_see_campaigns_but_cannot_run_edit_or_export_them(agent, fake_twilio):
    campaign = campaign_of(madrid_contacts(1))
    page = agent.get(progress_url(campaign))
    assert page.status_code == 200 and 'value="Start"' not in page.content.decode()
    assert agent.post(f"/admin/campaigns/campaign/{campaign.pk}/do/start/").status_code == 403
    assert agent.get(f"/admin/campaigns/campaign/{campaign.pk}/results.csv").status_code == 403
    agent.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", rules_form(max_in_flight="99"))
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT and campaign.max_in_flight == 10


def test_staff_without_a_role_see_nothing(client, staff_without_role):
    campaign = campaign_of(madrid_contacts(1))
    client.force_login(staff_without_role)
    assert client.get(progress_url(campaign)).status_code == 403
    assert client.get("/admin/campaigns/campaign/").status_code == 403
    assert client.post(f"/admin/campaigns/campaign/{campaign.pk}/do/cancel/").status_code == 403


def test_the_list_shows_progress_and_the_contacts_list_filters_by_campaign(supervisor):
    campaign = campaign_of(madrid_contacts(2))
    campaign_of(madrid_contacts(1, start=50), name="Other")
    listing = supervisor.get("/admin/campaigns/campaign/").content.decode()
    assert "0 of 2 done" in listing and "0 of 1 done" in listing
    entries = supervisor.get(f"/admin/campaigns/campaigncontact/?campaign__id__exact={campaign.pk}")
    assert entries.status_code == 200 and entries.context["cl"].result_count == 2


def test_a_contacts_own_time_zone_overrides_its_numbers(supervisor):
    contact = ContactFactory(phone_number="+34600000001")  # a mobile: Madrid and the Canaries
    monday = utc(2027, 6, 14, 0, 0)  # ahead of the real clock the admin uses
    campaign = campaign_of([contact], window={"days": list(range(7)), "hours": [["10:00", "14:00"]]},
                           starts_at=monday, start=monday)
    entry = campaign.entries.get()
    assert entry.next_attempt_at == utc(2027, 6, 14, 9, 0)  # 10:00 in the Canaries: inside in both
    url = f"/admin/campaigns/campaigncontact/{entry.pk}/change/"
    assert "not a time zone" in supervisor.post(url, {"time_zone": "Mars/Base"}).content.decode()
    supervisor.post(url, {"time_zone": "Europe/Madrid"})
    entry.refresh_from_db()
    assert entry.time_zone == "Europe/Madrid" and entry.next_attempt_at == utc(2027, 6, 14, 8, 0)


def test_agents_cannot_change_a_contacts_time_zone(agent):
    campaign = campaign_of(madrid_contacts(1))
    entry = campaign.entries.get()
    agent.post(f"/admin/campaigns/campaigncontact/{entry.pk}/change/", {"time_zone": "Europe/London"})
    entry.refresh_from_db()
    assert entry.time_zone == ""
