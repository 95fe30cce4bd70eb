"""What `make demo` starts with: a few contacts and a staff login (Supervisors). Run again, it adds nothing twice
and gives the login a new password."""
from django.contrib.auth.models import Group, User
from django.db import transaction

from contacts.models import Contact
from contacts.services import contact_create

DEMO_USERNAME = "demo"
DEMO_GROUP = "Supervisors"
DEMO_CONTACTS = (
    ("+34600100001", "Lucía García"),
    ("+34600100002", "Javier Martín"),
    ("+34600100003", "Carmen López"),
)


@transaction.atomic
def demo_data_seed(*, password: str) -> User:
    """Create the demo contacts that are missing and the staff login `DEMO_USERNAME` with `password`."""
    for phone_number, name in DEMO_CONTACTS:
        if not Contact.objects.filter(phone_number=phone_number).exists():
            contact_create(phone_number=phone_number, name=name)
    user, _ = User.objects.get_or_create(username=DEMO_USERNAME)
    user.is_staff, user.is_active = True, True
    user.set_password(password)
    user.save()
    user.groups.add(Group.objects.get(name=DEMO_GROUP))
    return user
