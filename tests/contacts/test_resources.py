"""ContactResource: imports through django-import-export's own tools follow the same rules as the admin and API."""
import pytest
import tablib
from django.core.management import call_command

from contacts.models import Contact
from contacts.resources import ContactResource
from tests.contacts.sheets import csv_bytes

pytestmark = pytest.mark.django_db


def test_its_import_normalises_numbers_and_reports_bad_rows(tmp_path):
    path = tmp_path / "contacts.csv"
    rows = [["Phone Number", "Name"], ["600 123 456", "Ana"], ["hello", "Bad"], ["0034600123456", "Dup"]]
    path.write_bytes(csv_bytes(rows))

    call_command("import", "contacts.resources.ContactResource", str(path), "--no-input")

    assert list(Contact.objects.values_list("phone_number", "name")) == [("+34600123456", "Ana")]


def test_its_dry_run_result_lists_each_invalid_row():
    dataset = tablib.Dataset(["600123456", "Ana"], ["12", "Short"], headers=["Phone Number", "Name"])

    result = ContactResource().import_data(dataset, dry_run=True)

    assert not Contact.objects.exists()
    assert result.totals["new"] == 1 and result.totals["invalid"] == 1
    assert result.invalid_rows[0].number == 3
    assert "too short" in result.invalid_rows[0].error_dict["phone_number"][0]
