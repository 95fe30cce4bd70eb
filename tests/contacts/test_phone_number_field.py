"""Contact.phone_number is django-phonenumber-field's PhoneNumberField: what it stores, what every door reads back,
and the migration that moved the numbers stored before it onto it without losing one."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from contacts.models import Contact
from contacts.services import contact_create
from tests.factories import ContactFactory

BEFORE = [("contacts", "0001_initial")]
AFTER = [("contacts", "0002_phone_number_field")]


@pytest.mark.django_db
def test_it_stores_e164_text_and_reads_back_a_phone_number_printed_the_same_way():
    contact = contact_create(phone_number="0034 600 123 456")

    with connection.cursor() as cursor:
        cursor.execute("SELECT phone_number FROM contacts_contact")
        assert cursor.fetchall() == [("+34600123456",)]
    contact = Contact.objects.get(phone_number="+34600123456")
    assert contact.phone_number.as_national == "600 12 34 56"
    assert str(contact.phone_number) == "+34600123456" and str(contact) == "+34600123456"


@pytest.mark.django_db
def test_lookups_by_number_and_by_digits_still_find_the_contact():
    ContactFactory(phone_number="+34600123456", name="Ana")

    assert Contact.objects.filter(phone_number="+34600123456").get().name == "Ana"
    assert Contact.objects.filter(phone_number__in=["+34600123456", "+34911222333"]).count() == 1
    assert Contact.objects.filter(phone_number__contains="600123").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_rewrites_numbers_to_e164_and_keeps_every_row_it_cannot(capsys):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    OldContact = executor.loader.project_state(BEFORE).apps.get_model("contacts", "Contact")
    stored = {
        "e164": "+34600123456", "national": "600111222", "spaced": "0034 600 333 444",
        "too_short": "12345", "letters": "call me", "same_as_e164": "600 12 34 56",
    }
    ids = {label: OldContact.objects.create(phone_number=number, name=label).pk for label, number in stored.items()}
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        raw = dict(OldContact.objects.values_list("name", "phone_number"))  # the column, as text
    finally:
        MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())

    assert raw == {
        "e164": "+34600123456", "national": "+34600111222", "spaced": "+34600333444",
        "too_short": "12345", "letters": "call me", "same_as_e164": "600 12 34 56",
    }
    printed = capsys.readouterr().out
    assert "2 number(s) rewritten as E.164; 3 kept as stored" in printed
    assert f"#{ids['same_as_e164']} '600 12 34 56' (contact with +34600123456 already exists)" in printed
    # The kept rows load and save through the new field unchanged.
    kept = Contact.objects.get(pk=ids["too_short"])
    kept.name = "still here"
    kept.save()
    assert Contact.objects.filter(pk=ids["too_short"]).values_list("phone_number", flat=True).get() == "12345"
    assert str(Contact.objects.get(pk=ids["letters"]).phone_number) == "call me"
