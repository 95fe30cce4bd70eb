"""factory_boy factories for the models tests need rows of."""
import factory

from calls.models import Call
from contacts.models import Contact


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    phone_number = factory.Sequence(lambda n: f"+3460{n:07d}")
    name = factory.Faker("name")


class CallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Call

    contact = factory.SubFactory(ContactFactory)
    phone_number = factory.SelfAttribute("contact.phone_number")
    twilio_sid = factory.Sequence(lambda n: f"CA{n:032x}")
