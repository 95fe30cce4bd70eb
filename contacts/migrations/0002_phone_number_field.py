"""Contact.phone_number becomes django-phonenumber-field's PhoneNumberField.

The column does not change: it held E.164 text and still does (PHONENUMBER_DB_FORMAT = "E164"). Before the field
changes, every stored number goes through today's rules (contacts.phones.normalize_phone) once more:
- a valid number written another way (`600123456`, `0034 600...`, left by a script that bypassed the services) is
  rewritten as E.164, so lookups by number find it;
- a number the rules refuse (too short, letters, a range that no longer exists...), or one whose E.164 form
  another contact already has, is kept exactly as stored, row and calls untouched. PhoneNumberField reads and
  writes such text unchanged; calls to it stay refused as before, and the admin asks for a valid number the next
  time the contact is edited. The migration prints how many rows it rewrote and which it left as they were.
No row is deleted and nothing here can fail on a stored value.
"""
from django.db import migrations

import phonenumber_field.modelfields
from contacts.phones import InvalidPhoneNumber, normalize_phone


def normalise_stored_numbers(apps, schema_editor) -> None:
    Contact = apps.get_model("contacts", "Contact")
    stored = dict(Contact.objects.values_list("pk", "phone_number"))
    taken = set(stored.values())
    rewritten, kept = 0, []
    for pk, number in stored.items():
        try:
            e164 = normalize_phone(number)
        except InvalidPhoneNumber as exc:
            kept.append(f"#{pk} {number!r} ({exc.reason})")
            continue
        if e164 == number:
            continue
        if e164 in taken:
            kept.append(f"#{pk} {number!r} (contact with {e164} already exists)")
            continue
        Contact.objects.filter(pk=pk).update(phone_number=e164)
        taken.add(e164)
        rewritten += 1
    if rewritten or kept:
        listed = ", ".join(kept[:20]) + (" ..." if len(kept) > 20 else "")
        print(f"\n  contacts: {rewritten} number(s) rewritten as E.164; {len(kept)} kept as stored. {listed}")


class Migration(migrations.Migration):

    dependencies = [
        ("contacts", "0001_initial"),
    ]

    operations = [
        # Reversing keeps the E.164 forms: they were valid for the old CharField too.
        migrations.RunPython(normalise_stored_numbers, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="contact",
            name="phone_number",
            field=phonenumber_field.modelfields.PhoneNumberField(
                help_text="E.164, e.g. +34600123456", max_length=20, region=None, unique=True,
                verbose_name="phone number",
            ),
        ),
    ]
