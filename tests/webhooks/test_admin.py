"""Webhooks out in the admin, by role: Supervisors configure endpoints (secret generated, shown to them only),
send test events and re-send deliveries; Agents see none of it; the deliveries list filters."""
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client

from tests.conftest import role_group
from tests.webhooks.conftest import SECRET, queued_deliveries, send
from webhooks.models import Delivery, Endpoint, Event

pytestmark = pytest.mark.django_db

ENDPOINTS, DELIVERIES = "/admin/webhooks/endpoint/", "/admin/webhooks/delivery/"


def admin_as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def supervisor(staff_user) -> Client:
    return admin_as(staff_user)


@pytest.fixture
def agent(django_user_model) -> Client:
    user = django_user_model.objects.create_user("agent", "agent@example.com", "pw", is_staff=True)
    user.groups.add(role_group("Agents"))
    return admin_as(user)


def _staff_with(django_user_model, *codenames: str) -> Client:
    user = django_user_model.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="webhooks", codename__in=codenames))
    return admin_as(user)


@pytest.fixture
def delivery(endpoint) -> Delivery:
    return Delivery.objects.create(endpoint=endpoint, event=Event.CALL_COMPLETED, status=Delivery.Status.FAILED,
                                   attempts=28, response_code=500, body='{"event":"call.completed","call_sid":"CA7"}')


def test_the_roles_give_webhooks_to_supervisors_only():
    supervisors = set(role_group("Supervisors").permissions.filter(content_type__app_label="webhooks")
                      .values_list("codename", flat=True))
    assert supervisors == {"view_endpoint", "add_endpoint", "change_endpoint", "delete_endpoint", "view_delivery",
                           "resend_delivery"}
    assert not role_group("Agents").permissions.filter(content_type__app_label="webhooks").exists()


def test_a_supervisor_adds_an_endpoint_and_is_shown_its_generated_secret(supervisor):
    response = supervisor.post(f"{ENDPOINTS}add/", {
        "url": "https://crm.example/hooks", "events": ["call.completed", "call.processed"], "active": "on",
        "description": "CRM", "secret": ""}, follow=True)
    endpoint = Endpoint.objects.get()
    assert endpoint.events == ["call.completed", "call.processed"] and endpoint.secret.startswith("whsec_")
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret in supervisor.get(f"{ENDPOINTS}{endpoint.pk}/change/").content.decode()


@pytest.mark.parametrize("fields, error_field", [
    ({"url": "ftp://crm.example/hooks", "events": ["call.completed"]}, "url"),
    ({"url": "https://crm.example/hooks", "events": []}, "events"),
    ({"url": "https://crm.example/hooks", "events": ["call.started"]}, "events"),
])
def test_a_bad_endpoint_is_refused_with_the_reason(supervisor, fields, error_field):
    response = supervisor.post(f"{ENDPOINTS}add/", {"active": "on", "description": "", "secret": "", **fields})
    assert response.status_code == 200 and error_field in response.context["adminform"].form.errors
    assert not Endpoint.objects.exists()


def test_someone_who_may_only_view_endpoints_never_sees_a_secret(django_user_model, endpoint):
    viewer = _staff_with(django_user_model, "view_endpoint")
    response = viewer.get(f"{ENDPOINTS}{endpoint.pk}/change/")
    assert response.status_code == 200 and endpoint.url in response.content.decode()
    assert SECRET not in response.content.decode()
    assert viewer.get(ENDPOINTS).context["action_form"] is None  # no action offered, "Send test event" included
    viewer.post(ENDPOINTS, {"action": "send_test", ACTION_CHECKBOX_NAME: [endpoint.pk]})
    assert not Delivery.objects.exists()


def test_agents_see_no_webhooks(agent, endpoint, delivery):
    assert agent.get(ENDPOINTS).status_code == 403
    assert agent.get(DELIVERIES).status_code == 403
    assert agent.get(f"{DELIVERIES}{delivery.pk}/change/").status_code == 403
    assert "/admin/webhooks/" not in agent.get("/admin/").content.decode()


def test_re_send_sends_the_same_event_again_as_a_new_delivery(
        supervisor, delivery, receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = supervisor.post(DELIVERIES, {"action": "resend", ACTION_CHECKBOX_NAME: [delivery.pk]})
    assert response.status_code == 302
    copy = Delivery.objects.exclude(pk=delivery.pk).get()
    assert (copy.resent_from_id, copy.event_id, copy.body, copy.status) == (
        delivery.pk, delivery.event_id, delivery.body, Delivery.Status.PENDING)
    assert queued_deliveries() == [copy.pk]
    assert LogEntry.objects.get(object_id=str(delivery.pk)).change_message == "Re-sent."

    copy = send(copy)
    [request] = receiver.received
    assert request.verified and request.body == delivery.body.encode()
    assert request.headers["Voicebot-Event-Id"] == str(delivery.event_id)
    assert copy.status == Delivery.Status.DELIVERED
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED  # the original's log stays as it was


def test_re_send_needs_its_permission(django_user_model, delivery, django_capture_on_commit_callbacks):
    viewer = _staff_with(django_user_model, "view_delivery")
    assert viewer.get(DELIVERIES).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        viewer.post(DELIVERIES, {"action": "resend", ACTION_CHECKBOX_NAME: [delivery.pk]})
    assert Delivery.objects.count() == 1 and queued_deliveries() == []


def test_deliveries_are_read_only(supervisor, delivery):
    assert supervisor.get(f"{DELIVERIES}add/").status_code == 403
    page = supervisor.get(f"{DELIVERIES}{delivery.pk}/change/")
    assert page.status_code == 200 and "CA7" in page.content.decode()
    supervisor.post(f"{DELIVERIES}{delivery.pk}/change/", {"status": "delivered"})
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED


def test_the_deliveries_list_filters_by_status_and_event(supervisor, delivery, endpoint):
    Delivery.objects.create(endpoint=endpoint, event=Event.CALL_PROCESSED, status=Delivery.Status.DELIVERED, body="{}")
    assert supervisor.get(DELIVERIES).context["cl"].result_count == 2
    failed = supervisor.get(DELIVERIES, {"status__exact": "failed"}).context["cl"]
    assert [row.pk for row in failed.result_list] == [delivery.pk]
    processed = supervisor.get(DELIVERIES, {"event__exact": "call.processed"}).context["cl"]
    assert [row.event for row in processed.result_list] == ["call.processed"]
    assert supervisor.get(DELIVERIES, {"endpoint__id__exact": endpoint.pk}).context["cl"].result_count == 2


def test_send_test_event_reaches_the_receiver_signed(supervisor, endpoint, receiver,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = supervisor.post(ENDPOINTS, {"action": "send_test", ACTION_CHECKBOX_NAME: [endpoint.pk]})
    assert response.status_code == 302
    test = Delivery.objects.get(event=Event.TEST)
    assert queued_deliveries() == [test.pk]
    send(test)
    assert receiver.received[0].verified and receiver.received[0].json()["event"] == "webhook.test"
