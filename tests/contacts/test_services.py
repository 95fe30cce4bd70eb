"""contacts.services: what each verb writes, for the cases the doors cannot show directly."""
import io

import pytest
from django.core.files.base import ContentFile

from contacts.models import Contact
from contacts.services import contact_delete, contacts_import, contacts_set_do_not_call
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db


def _import(content: bytes, **kwargs):
    return contacts_import(file=io.BytesIO(content), filename="numbers.txt", size=len(content), **kwargs)


def test_a_dry_run_reports_what_the_import_will_do_and_writes_nothing():
    preview = _import(b"600123456,600123457,12", dry_run=True)
    assert not Contact.objects.exists()

    done = _import(b"600123456,600123457,12")

    assert preview.imported_numbers == done.imported_numbers == ["+34600123456", "+34600123457"]
    assert preview.failed == done.failed
    assert Contact.objects.count() == 2


def test_it_keeps_recordings_until_the_delete_is_committed(django_capture_on_commit_callbacks):
    call = CallFactory()
    call.recording.save("call.wav", ContentFile(b"RIFF"), save=True)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        contact_delete(contact=call.contact)

    assert call.recording.storage.exists(call.recording.name)  # not yet: the transaction could still roll back
    callbacks[0]()
    assert not call.recording.storage.exists(call.recording.name)


def test_it_sets_do_not_call_only_where_it_changes():
    blocked = ContactFactory(do_not_call=True)
    ContactFactory.create_batch(2)
    before = Contact.objects.get(pk=blocked.pk).updated_at

    assert contacts_set_do_not_call(contacts=Contact.objects.all(), do_not_call=True) == 2
    assert Contact.objects.filter(do_not_call=False).count() == 0
    assert Contact.objects.get(pk=blocked.pk).updated_at == before
