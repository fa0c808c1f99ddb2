"""Test data of the bots: processed updates and recipients bound to a messenger account.

Recipients themselves come from notifications.tests.factories; updates sent to the bots are built
in bots.tests.builders.
"""

import factory
from factory.django import DjangoModelFactory

from bots.models import ProcessedUpdate
from notifications.tests.factories import ServiceBindingFactory


class ProcessedUpdateFactory(DjangoModelFactory):
    class Meta:
        model = ProcessedUpdate

    service = "vk"
    update_id = factory.Sequence(str)


def bind(recipient, service: str, account_id) -> object:
    """Bind `recipient` to the messenger account `account_id` of `service`; returns the recipient."""
    ServiceBindingFactory(recipient=recipient, service=service, service_user_id=str(account_id))
    return recipient
