"""The portal's sandbox sample (communications/portal/samples/sandbox.py) runs against the real code."""

import os
import subprocess
import sys

import pytest

from communications.portal.views import SAMPLES_DIR
from config.tests.factories import UserFactory
from marketplace import services
from marketplace.models import Scope
from marketplace.tests.factories import ProviderCompanyFactory, configuration


@pytest.mark.django_db(transaction=True)
def test_sandbox_sample_sends_an_operator_message_to_the_provider(live_server, fake, settings):
    settings.PROVIDER_ALLOW_LOOPBACK = True
    # the data migration's row; an earlier transactional test flushes it
    Scope.objects.get_or_create(code=Scope.COMMUNICATIONS, defaults={"label": "Коммуникации"})
    user = UserFactory(username="dev@example.com", email="dev@example.com")
    company = ProviderCompanyFactory(name="Acme LLC")
    company.members.add(user)
    app = services.application_create(company=company, code="acme", name="Acme Chat", actor=user)
    version = services.app_version_create(application=app, version="1.0.0", scopes=["communications"])
    services.provider_configuration_save(application=app, version=version, mode="create", actor=user,
                                         data=configuration(endpoints=fake.endpoints()))
    env = {**os.environ, "SBERCRM_URL": live_server.url, "SBERCRM_EMAIL": "dev@example.com",
           "SBERCRM_PASSWORD": "pass-12345-word", "APP_CODE": "acme", "APP_VERSION": "1.0.0"}
    # when
    result = subprocess.run([sys.executable, str(SAMPLES_DIR / "sandbox.py")], env=env, capture_output=True,
                            text=True, timeout=120)
    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"sandbox tenant {company.sandbox_tenant_id}" in result.stdout
    assert "sendMessage delivered [200]" in result.stdout
    sent = fake.accepted_list("sendMessage")
    assert len(sent) == 1 and sent[0].json["text"] == "Здравствуйте! Чем помочь?"
