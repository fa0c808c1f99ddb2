import threading

import pytest
from django.db import connection

from communications.models import ConfigurationBinding
from communications.services import providers as services
from communications.tests.factories import configuration_payload
from config.errors import ApplicationError


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_for_same_app_version_leave_exactly_one_active_configuration():
    # given: a provider with configuration 1.0.0 for app version 1.0.0
    services.provider_register(code="acme", label="Acme")
    services.provider_configuration_upload(app_code="acme", app_version="1.0.0", mode="create",
                                           data=configuration_payload("1.0.0"))
    versions = [f"1.{minor}.0" for minor in range(1, 7)]
    barrier = threading.Barrier(len(versions))
    outcomes: dict[str, str] = {}

    def upload(version):
        try:
            barrier.wait(timeout=10)
            services.provider_configuration_upload(app_code="acme", app_version="1.0.0", mode="update",
                                                   data=configuration_payload(version))
            outcomes[version] = "ok"
        except ApplicationError as exc:
            outcomes[version] = exc.code
        finally:
            connection.close()

    # when: six developers upload at the same moment
    threads = [threading.Thread(target=upload, args=(version,)) for version in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then: exactly one active configuration, and it is the highest accepted version
    active = ConfigurationBinding.objects.filter(app_version="1.0.0", is_active=True)
    assert active.count() == 1
    accepted = [version for version, outcome in outcomes.items() if outcome == "ok"]
    assert len(outcomes) == len(versions), outcomes  # no thread died on an integrity error
    assert accepted, outcomes
    assert set(outcomes.values()) <= {"ok", "configuration_version_not_increased"}
    assert active.get().configuration.configuration_version == max(accepted, key=lambda v: int(v.split(".")[1]))
