"""What the contacts app does: create, update and delete contacts, and import them in bulk.

Every door (admin, REST API, bench) calls these functions. They raise `ContactError` subclasses whose message
is written for call-centre staff; the API turns them into 400 `{"detail": ...}`, the admin into messages.
"""
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import IO

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from phonenumber_field.phonenumber import PhoneNumber

from contacts.attributes import MAX_ATTRIBUTES, AttributesInvalid, attribute_key_problem, attributes_clean
from contacts.models import Contact
from contacts.phones import InvalidPhoneNumber, as_typed, normalize_phone, to_phone_number
from contacts.spreadsheets import SheetRow, SpreadsheetRejected, check_size, read_contact_rows

NAME_MAX_LENGTH = Contact._meta.get_field("name").max_length
# Well under SQLite's bound-variable limit, and a round trip per ~1000 rows is cheap on any database.
_CHUNK = 900


class ContactError(Exception):
    """A contact operation was refused; `str(exc)` says why in words staff understand."""


class ContactNumberInvalid(ContactError):
    def __init__(self, error: InvalidPhoneNumber) -> None:
        super().__init__(error.message)


class ContactAlreadyExists(ContactError):
    def __init__(self, phone_number: str) -> None:
        super().__init__(_("A contact with the number %(number)s already exists.") % {"number": phone_number})


class ContactImportRejected(ContactError):
    """The whole file was refused (unreadable, empty, too big, too many rows); nothing was imported."""


def contact_phone(*, value: object) -> str:
    """The E.164 form of `value`, or ContactNumberInvalid saying what is wrong with it."""
    try:
        return normalize_phone(value)
    except InvalidPhoneNumber as exc:
        raise ContactNumberInvalid(exc) from None


def _phone_number(value: object) -> PhoneNumber:
    try:
        return to_phone_number(value)
    except InvalidPhoneNumber as exc:
        raise ContactNumberInvalid(exc) from None


@transaction.atomic
def contact_create(
    *, phone_number: object, name: str = "", comments: str = "", do_not_call: bool = False,
    attributes: object = None,
) -> Contact:
    """Insert one Contact with its number normalised to E.164; refuse invalid or already-known numbers and
    attributes that break contacts.attributes' rules."""
    phone = contact_phone(value=phone_number)
    cleaned = _attributes(attributes)
    if Contact.objects.filter(phone_number=phone).exists():
        raise ContactAlreadyExists(phone)
    try:
        with transaction.atomic():
            return Contact.objects.create(
                phone_number=phone, name=_name(name), comments=comments or "", do_not_call=do_not_call,
                attributes=cleaned,
            )
    except IntegrityError:  # created by someone else between the check and the insert
        raise ContactAlreadyExists(phone) from None


@transaction.atomic
def contact_update(
    *, contact: Contact, name: str | None = None, comments: str | None = None, do_not_call: bool | None = None,
    attributes: object = None,
) -> Contact:
    """Write the given fields (None means "leave as is") and `updated_at`; the number never changes here.
    `attributes` replaces them all (an empty object clears them)."""
    changes = {"name": None if name is None else _name(name), "comments": comments, "do_not_call": do_not_call,
               "attributes": None if attributes is None else _attributes(attributes)}
    for attribute, value in changes.items():
        if value is not None:
            setattr(contact, attribute, value)
    contact.save()
    return contact


def contact_delete(*, contact: Contact) -> None:
    """Delete the contact and its calls (cascade); each call's recording file goes once that is committed.

    The files are removed by Call's post_delete handler (calls.models), the one place rows and files go together.
    """
    contact.delete()


def contacts_set_do_not_call(*, contacts: QuerySet[Contact], do_not_call: bool) -> int:
    """Set the do-not-call flag (and `updated_at`) on every contact of `contacts`; return how many changed."""
    return contacts.exclude(do_not_call=do_not_call).update(do_not_call=do_not_call, updated_at=timezone.now())


def _name(name: object) -> str:
    text = "" if name is None else str(name).strip()
    if len(text) > NAME_MAX_LENGTH:
        raise ContactError(_("The name is longer than %(max)s characters; shorten it.") % {"max": NAME_MAX_LENGTH})
    return text


def _attributes(value: object) -> dict:
    try:
        return attributes_clean(value)
    except AttributesInvalid as exc:
        raise ContactError(str(exc)) from None


def import_attribute_names(header: SheetRow | None) -> tuple[str | None, ...]:
    """The attribute each column after the name fills, from the title row's cells (None: an untitled column,
    not imported); none without a title row. ContactImportRejected for a title that cannot name an attribute."""
    if header is None:
        return ()
    names: list[str | None] = []
    for column, title in enumerate(header.extra, start=3):
        text = "" if title is None else str(title).strip()
        if not text:
            names.append(None)
            continue
        if problem := attribute_key_problem(text):
            raise ContactImportRejected(
                _("Column %(column)s of the title row: %(problem)s Rename the column and import the file again.")
                % {"column": column, "problem": problem})
        if text in names:
            raise ContactImportRejected(
                _("Two columns are titled %(title)s; each attribute column needs its own title.")
                % {"title": repr(text)})
        names.append(text)
    if sum(name is not None for name in names) > MAX_ATTRIBUTES:
        raise ContactImportRejected(
            _("The file has more than %(max)s attribute columns after the phone and name; keep the ones the calls "
              "need.") % {"max": MAX_ATTRIBUTES})
    return tuple(names)


def _row_attributes(row: SheetRow, names: tuple[str | None, ...]) -> dict:
    return _attributes({name: _cell_value(value) for name, value in zip(names, row.extra) if name is not None})


def _cell_value(value: object) -> object:
    """A cell as an attribute: numbers stay numbers (a workbook's 900), dates ISO text, anything else text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return as_typed(value)


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that was not imported: its row number, what the file said, and why (the API's failed_users)."""

    row: int
    input: str
    error: str
    kind: str = "invalid"  # or "duplicate" (earlier in the file) or "existing" (already in contacts)


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    new: list[Contact] = field(default_factory=list)
    failed: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    header: str | None = None  # the first cell of the title row the file started with, if it had one
    attribute_names: list[str] = field(default_factory=list)  # the columns imported as attributes, in order

    @property
    def imported_numbers(self) -> list[str]:
        return [str(contact.phone_number) for contact in self.new]

    @property
    def no_valid_number(self) -> bool:
        """Not a single row held a usable phone number (as opposed to all being already known)."""
        return not self.new and all(error.kind == "invalid" for error in self.failed)


def contacts_import(*, file: IO[bytes], filename: str, size: int, dry_run: bool = False) -> ImportReport:
    """Read a contact file and insert every valid, new number; report each other row with the reason.

    Writes nothing when `dry_run` (the admin's preview). Raises ContactImportRejected when the file as a
    whole cannot be used (unreadable, empty, too big, too many rows).
    """
    try:
        contact_file = read_contact_rows(file=file, filename=filename, size=size)
    except SpreadsheetRejected as exc:
        raise ContactImportRejected(str(exc)) from exc
    report = contacts_import_rows(rows=contact_file.rows, dry_run=dry_run,
                                  attribute_names=import_attribute_names(contact_file.header))
    report.header = as_typed(contact_file.header.phone) if contact_file.header else None
    return report


def contacts_import_size_check(*, size: int) -> None:
    """Refuse an upload over IMPORT_MAX_BYTES from its declared size alone, before it is even received."""
    try:
        check_size(size=size)
    except SpreadsheetRejected as exc:
        raise ContactImportRejected(str(exc)) from exc


def contacts_import_rows(
    *, rows: Iterable[SheetRow], dry_run: bool = False, attribute_names: tuple[str | None, ...] = (),
) -> ImportReport:
    """Validate rows, skip numbers seen earlier in the file or already stored, bulk-insert the rest. The cells
    after the name become attributes named by `attribute_names` (import_attribute_names)."""
    report = ImportReport(dry_run=dry_run, attribute_names=[name for name in attribute_names if name])
    candidates = _valid_rows(rows, report, attribute_names)
    existing = _existing_numbers([contact.phone_number for _row, _phone, contact in candidates])
    for row, phone, contact in candidates:
        if phone in existing:
            error = RowError(row.row, as_typed(row.phone), _("%(number)s is already in contacts") % {"number": phone},
                             "existing")
            report.failed.append(error)
        else:
            report.new.append(contact)
    report.failed.sort(key=lambda error: error.row)
    if not dry_run:
        # ignore_conflicts: a number added by someone else since the check is skipped, not a crash.
        with transaction.atomic():
            Contact.objects.bulk_create(report.new, batch_size=_CHUNK, ignore_conflicts=True)
    return report


def _valid_rows(
    rows: Iterable[SheetRow], report: ImportReport, attribute_names: tuple[str | None, ...],
) -> list[tuple[SheetRow, str, Contact]]:
    """Rows with a valid number and name, first occurrence only, with their E.164 form; the others go to
    `report.failed`. Each number is parsed once: the Contact gets the PhoneNumber itself, not text to re-parse."""
    first_row_of: dict[str, int] = {}
    candidates = []
    for row in rows:
        try:
            number = _phone_number(row.phone)
            name = _name(row.name)
            attributes = _row_attributes(row, attribute_names) if attribute_names else {}
        except ContactError as exc:
            report.failed.append(RowError(row.row, as_typed(row.phone), str(exc)))
            continue
        phone = number.as_e164
        if phone in first_row_of:
            report.failed.append(
                RowError(
                    row.row, as_typed(row.phone),
                    _("%(number)s is already on row %(row)s of this file")
                    % {"number": phone, "row": first_row_of[phone]},
                    "duplicate",
                )
            )
            continue
        first_row_of[phone] = row.row
        candidates.append((row, phone, Contact(phone_number=number, name=name, attributes=attributes)))
    return candidates


def _existing_numbers(numbers: list[PhoneNumber]) -> set[str]:
    """The E.164 forms of those of `numbers` already stored."""
    existing: set[str] = set()
    for start in range(0, len(numbers), _CHUNK):
        chunk = numbers[start : start + _CHUNK]
        stored = Contact.objects.filter(phone_number__in=chunk).values_list("phone_number", flat=True)
        existing.update(str(number) for number in stored)
    return existing
