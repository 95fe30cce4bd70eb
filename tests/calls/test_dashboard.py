"""The dashboard on the admin home: figures on a known set of calls, links that list exactly the calls counted,
who may see it, and what bad query parameters do."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.contrib.auth.models import Permission

from calls.models import Call, CallStatus
from calls.review.dashboard import dashboard_build, period_start
from campaigns.models import Campaign
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def a_call(created_at, *, status=CallStatus.COMPLETED, answered=True, duration=None, cost=None, data=None,
           campaign=None) -> Call:
    call = CallFactory(status=status, duration=duration, extracted_data=data or {}, campaign=campaign,
                       cost_total=Decimal(cost) if cost else None)
    Call.objects.filter(pk=call.pk).update(created_at=created_at, answered_at=created_at if answered else None)
    return call


@pytest.fixture
def calls():
    """Four calls today, two three days ago, one 20 days ago, one 40 days ago (outside every period)."""
    today = period_start("today") + timedelta(seconds=1)
    spring = Campaign.objects.create(name="Spring")
    nulls = {"place": None, "budget": None, "other_requirements": None}
    return {
        "A": a_call(today, duration=45, cost="0.10", data={**nulls, "place": "Madrid", "other_requirements": ""}),
        "B": a_call(today, duration=200, cost="0.30", data={**nulls, "place": "Sevilla", "budget": 900},
                    campaign=spring),
        "C": a_call(today, status=CallStatus.NO_ANSWER, answered=False),
        "D": a_call(today, status=CallStatus.IN_PROGRESS),
        "E": a_call(today - timedelta(days=3), duration=20, cost="0.05", data=nulls),
        "F": a_call(today - timedelta(days=3), status=CallStatus.BUSY, answered=False),
        "G": a_call(today - timedelta(days=20), duration=400, cost="1.00", campaign=spring,
                    data={"place": "Toledo", "budget": 1, "other_requirements": "garaje"}),
        "H": a_call(today - timedelta(days=40), duration=60, cost="9.00"),
        "spring": spring,
    }


def figures(headline_row):
    return {figure.label: figure.value for figure in headline_row["figures"]}


def test_the_headline_counts_each_period(calls):
    board = dashboard_build(period="7d", campaign_id=None)

    today, week, month = (figures(row) for row in board.headline)
    assert today == {"Calls placed": "4", "Answer rate": "75 %", "Average talk time": "2:02", "Cost": "0.40 USD"}
    assert week == {"Calls placed": "6", "Answer rate": "67 %", "Average talk time": "1:28", "Cost": "0.45 USD"}
    assert month == {"Calls placed": "7", "Answer rate": "71 %", "Average talk time": "2:46", "Cost": "1.45 USD"}


def test_the_details_count_outcomes_talk_time_and_fields_found(calls):
    board = dashboard_build(period="7d", campaign_id=None)

    assert {f.label: f.value for f in board.outcomes} == {"Completed": "3", "No answer": "1", "Busy": "1",
                                                         "In progress": "1"}
    assert board.talk_counts == [1, 1, 0, 1, 0]  # E 20 s, A 45 s, B 200 s; D has no duration yet
    # Three calls were extracted (A, B, E): a place in two, a budget in one; "" and null are not found.
    assert {f.label: f.value for f in board.fill} == {"Place": "67 %", "Budget": "33 %", "Other requirements": "0 %"}
    assert board.in_flight.value == "1"
    assert [day["cost"] for day in board.days] == [0, 0, 0, Decimal("0.05"), 0, 0, Decimal("0.40")]
    assert [sum(day["counts"].values()) for day in board.days] == [0, 0, 0, 2, 0, 0, 4]
    assert board.campaigns[0]["name"] == "Spring" and board.campaigns[0]["placed"] == "1"


def test_one_campaign_counts_only_its_calls(calls):
    board = dashboard_build(period="30d", campaign_id=calls["spring"].pk)

    assert figures(board.headline[2]) == {"Calls placed": "2", "Answer rate": "100 %", "Average talk time": "5:00",
                                          "Cost": "1.30 USD"}
    assert board.campaigns == []


def listed(client, url) -> set[int]:
    response = client.get(url)
    assert response.status_code == 200, url
    return {call.pk for call in response.context["cl"].result_list}


def test_every_figure_links_to_the_calls_it_counts(admin_client_logged, calls):
    board = dashboard_build(period="7d", campaign_id=None)
    by_label = {figure.label: figure.url for figure in [*board.outcomes, *board.talk, *board.fill]}
    client = admin_client_logged

    assert listed(client, board.headline[1]["figures"][0].url) == {calls[k].pk for k in "ABCDEF"}
    assert listed(client, board.headline[0]["figures"][1].url) == {calls[k].pk for k in "ABD"}
    assert listed(client, by_label["Completed"]) == {calls[k].pk for k in "ABE"}
    assert listed(client, by_label["30 s to 1 min"]) == {calls["A"].pk}
    assert listed(client, by_label["Place"]) == {calls[k].pk for k in "AB"}
    assert listed(client, board.in_flight.url) == {calls["D"].pk}
    assert listed(client, board.days[3]["url"]) == {calls[k].pk for k in "EF"}
    assert listed(client, board.campaigns[0]["url"]) == {calls["B"].pk}


def test_the_admin_home_shows_the_dashboard_with_its_charts(admin_client_logged, calls):
    response = admin_client_logged.get("/admin/?period=today")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="call-dashboard"' in html and html.count('<figure class="dashboard-chart">') == 3
    assert "Calls per day by outcome" in html and "Talk time of answered calls" in html and "Cost per day" in html
    assert "<title>27/11: Completed 2, In progress 1, No answer 1</title>".replace(
        "27/11", f"{period_start('today'):%d/%m}") in html  # today's column, stacked by outcome
    assert re.search(r'<tr data-period="today" class="selected"><th scope="row">Today</th>\s*<td><a [^>]+>4</a>', html)
    links = {unescape(href) for href in re.findall(r'href="([^"]+)"', html)}
    board = dashboard_build(period="today", campaign_id=None)
    assert {figure.url for figure in board.outcomes} <= links and board.days[0]["url"] in links
    assert 'class="app-calls module' in html  # the list of sections is still there, below


def test_staff_without_the_view_call_permission_see_no_dashboard(client, staff_without_role, calls):
    client.force_login(staff_without_role)
    assert 'id="call-dashboard"' not in client.get("/admin/").content.decode()

    staff_without_role.user_permissions.add(Permission.objects.get(codename="view_call"))
    assert 'id="call-dashboard"' in client.get("/admin/").content.decode()


def test_agents_see_the_dashboard(client, django_user_model, calls):
    from tests.conftest import role_group
    agent = django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob", is_staff=True)
    agent.groups.add(role_group("Agents"))
    client.force_login(agent)
    assert 'id="call-dashboard"' in client.get("/admin/").content.decode()


@pytest.mark.parametrize("query, shown", [("?period=forever", "Last 7 days"), ("?period=30d&campaign=abc",
                                                                                "Last 30 days")])
def test_an_unknown_period_or_campaign_shows_the_default(admin_client_logged, calls, query, shown):
    html = admin_client_logged.get(f"/admin/{query}").content.decode()
    assert f"<h2>{shown}</h2>" in html and 'id="call-dashboard"' in html


def test_a_campaign_that_does_not_exist_is_said_so(admin_client_logged, calls):
    html = admin_client_logged.get("/admin/?campaign=999999").content.decode()
    assert "No such campaign: showing all calls." in html


@pytest.mark.parametrize("query", ["talk=forever", "filled=not_a_field", "answered=maybe"])
def test_a_filter_value_the_dashboard_never_writes_lists_every_call(admin_client_logged, calls, query):
    assert len(listed(admin_client_logged, f"/admin/calls/call/?{query}")) == 8
