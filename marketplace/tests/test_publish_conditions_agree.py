"""Issue 16 item 2: the ready-to-publish list (dashboard, `?ready=1`) and publishing use one rule."""

import pytest
from django.db import transaction

from config.errors import ApplicationError
from marketplace import services
from marketplace.models import AppVersion
from marketplace.selectors import app_version_ready_to_publish_list
from marketplace.tests.factories import API, configuration, record_passed_test_run

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


def _publishes(version: AppVersion, actor) -> bool:
    try:
        with transaction.atomic():
            services.app_version_publish(version=AppVersion.objects.get(pk=version.pk), actor=actor)
            raise _Rollback
    except _Rollback:
        return True
    except ApplicationError:
        return False


def _version(developer, code, *, approve=True, provider=True, sbercrm=True, reupload=False, upload=True):
    company = developer.user.provider_companies.get()
    application = services.application_create(company=company, code=code, name=code, actor=developer.user)
    version = services.app_version_create(application=application, version="1.0.0", scopes=["communications"])
    if upload:
        response = developer.post(f"{API}/provider-configurations", configuration(code=code), format="json")
        assert response.status_code == 201, response.json()
    if approve:
        services.app_version_approve(version=version, actor=developer.user)
    if provider:
        services.app_version_mark_tested(version=version, actor=developer.user, side="provider")
    if sbercrm and upload:
        record_passed_test_run(version)
        services.app_version_mark_tested(version=version, actor=developer.user, side="sbercrm")
    if reupload:  # a configuration the SberCRM mark does not cover
        response = developer.put(f"{API}/provider-configurations", configuration("1.1.0", code=code), format="json")
        assert response.status_code == 200, response.json()
    return version


def test_ready_list_and_publishing_agree_on_every_version(developer):
    versions = [
        _version(developer, "ready"),
        _version(developer, "retested-config", reupload=True),
        _version(developer, "not-approved", approve=False),
        _version(developer, "no-provider-mark", provider=False),
        _version(developer, "no-sbercrm-mark", sbercrm=False),
        _version(developer, "no-config", upload=False, sbercrm=False),
    ]
    ready = set(app_version_ready_to_publish_list().values_list("pk", flat=True))
    publishable = {version.pk for version in versions if _publishes(version, developer.user)}
    assert ready == publishable
    assert publishable == {versions[0].pk}


def test_ready_list_narrows_a_given_queryset_and_skips_published(developer):
    first, second = _version(developer, "first"), _version(developer, "second")
    services.app_version_publish(version=first, actor=developer.user)
    narrowed = app_version_ready_to_publish_list(AppVersion.objects.filter(application__code__in=["first", "second"]))
    assert list(narrowed.values_list("pk", flat=True)) == [second.pk]
