"""Issue 22: adding an optional provider endpoint is a registry entry, a body builder and a test.

The `archive_chat` fixture is that whole change for an endpoint only this file knows. No other file
names it, and still the portal documents it, a configuration may name it, the test stand calls it
and checks its answer, and the fake provider answers it.
"""

import pytest

from communications import endpoints as provider_endpoints
from communications.endpoints import Endpoint, StandStep
from communications.models import ProviderConfiguration
from communications.provider_contract import EXAMPLE_TENANT
from communications.services.providers import configuration_validate
from communications.tests.factories import make_configuration, verdicts
from config.errors import ApplicationError
from config.testing.fake_provider import Reaction

pytestmark = pytest.mark.django_db

NAME = "archiveChat"


def archive_chat_body(*, tenant_id, chat_id: str) -> dict:
    """The body builder: what provider_contract.py would gain."""
    return {"tenantId": str(tenant_id), "chatId": chat_id}


def archived_problem(body, sent: dict) -> str:
    if not (isinstance(body, dict) and body.get("archived") is True):
        return "Ответ archiveChat должен содержать archived: true."
    return ""


@pytest.fixture
def archive_chat():
    """The registry entry: what communications/endpoints.py would gain."""
    endpoint = provider_endpoints.register(Endpoint(
        NAME, required=False, title="Архивация чата",
        when="Оператор отправил чат в архив.",
        response_note="archived: true — чат в архиве.",
        example_request=archive_chat_body(tenant_id=EXAMPLE_TENANT, chat_id="chat-1001"),
        example_response={"archived": True},
        answer_problem=archived_problem,
        stand=StandStep(lambda ctx: archive_chat_body(tenant_id=ctx.tenant_id, chat_id=ctx.chat_id),
                        "Архивация чата: ответ 2xx с archived: true."),
    ))
    yield endpoint
    provider_endpoints.unregister(NAME)


def test_portal_documents_the_new_endpoint(archive_chat, client):
    # when
    guide = client.get("/developers/guide/").content.decode()
    stand_page = client.get("/developers/test-stand/").content.decode()
    # then: its reference section, its place in the optional list and in the full example, its stand check
    assert f'id="endpoint-{NAME}"' in guide and "Архивация чата" in guide and "archived: true — чат в архиве." in guide
    optional = guide[guide.index("Необязательные:"):]
    assert f"<code>{NAME}</code>" in optional[:optional.index(".\n")]
    assert f"https://api.acme.example/sbercrm/{NAME}" in guide
    assert "Архивация чата: ответ 2xx с archived: true." in stand_page


def test_configuration_upload_accepts_the_new_endpoint(archive_chat, app_version, conformant):
    # given: the marketplace upload of `app_version` named every endpoint of the fake, the new one included
    # then
    stored = ProviderConfiguration.objects.get(app_code="acme")
    assert stored.endpoint_url(NAME) == f"{conformant.url}/{NAME}"
    # and a misspelt name is still refused, the message listing the new endpoint among the known ones
    data = {"configurationVersion": "1.0.1", "providerLabel": "Acme",
            "endpoints": {**conformant.endpoints(), "archiveChats": "https://acme.example/a"},
            "auth": {"type": "API_KEY", "headerName": "X-Api-Key", "key": "secret-key-1"}}
    with pytest.raises(ApplicationError) as refused:
        configuration_validate(data=data)
    assert NAME in refused.value.fields["endpoints.archiveChats"][0]


def test_stand_calls_the_new_endpoint_with_its_body(archive_chat, stand, conformant, run_now):
    # given: a configuration with every endpoint
    make_configuration(conformant)
    # when
    run = run_now()
    # then: it is called once, among the optional calls and before the cleanup, and its answer passes
    assert run.status == "passed", verdicts(run)
    order = [endpoint for endpoint, is_repeat, _ in verdicts(run) if not is_repeat]
    assert order.index("bulkMessages") < order.index(NAME) < order.index("deleteWebhook")
    assert (NAME, False, "ok") in verdicts(run)
    (request,) = [r for r in conformant.requests if r.endpoint == NAME]
    assert request.json == archive_chat_body(tenant_id=run.sandbox_tenant_id, chat_id=f"teststand-chat-{run.pk}")


def test_stand_applies_the_new_endpoints_answer_check(archive_chat, stand, broken, run_now):
    # given: the provider answers the new endpoint without the field its contract needs
    make_configuration(broken)
    broken.on(NAME, Reaction(body={"ok": True}))
    # when
    run = run_now()
    # then
    check = run.checks.get(endpoint=NAME)
    assert (check.verdict, check.reason) == ("contract_violation", "Ответ archiveChat должен содержать archived: true.")
    assert run.status == "failed" and NAME in run.summary


def test_stand_skips_the_new_endpoint_when_not_configured(archive_chat, stand, conformant, run_now):
    make_configuration(conformant, endpoints=conformant.endpoints(provider_endpoints.required_names()))
    run = run_now()
    assert run.status == "passed"
    assert not [r for r in conformant.requests if r.endpoint == NAME]


def test_console_template_asks_for_the_required_endpoints_only(archive_chat, developer, client):
    # given: a version with «Коммуникации» and no configuration yet
    from marketplace import services
    from marketplace.models import Scope

    Scope.objects.get_or_create(code=Scope.COMMUNICATIONS, defaults={"label": "Коммуникации"})
    company = developer.user.provider_companies.get()
    application = services.application_create(company=company, code="acme", name="Acme Chat", actor=developer.user)
    services.app_version_create(application=application, version="1.0.0", scopes=["communications"])
    client.force_login(developer.user)
    # when
    page = client.get("/developers/console/apps/acme/").content.decode()
    # then: the configuration to fill in names every required endpoint and no optional one
    for name in provider_endpoints.required_names():
        assert f"&quot;{name}&quot;: &quot;https://&quot;" in page, name
    assert f"&quot;{NAME}&quot;" not in page


# --- the registry itself ----------------------------------------------------------------------------

def test_each_documented_answer_passes_its_own_check():
    for endpoint in provider_endpoints.endpoint_list():
        assert endpoint.answer_problem(endpoint.example_response, endpoint.example_request) == "", endpoint.name


def test_each_answer_check_rejects_what_its_contract_forbids():
    checked = {e.name: e for e in provider_endpoints.endpoint_list()}
    sent_bulk = checked["bulkMessages"].example_request
    assert checked["sendMessage"].answer_problem({"ok": True}, {})
    assert checked["getChannels"].answer_problem({"channels": [{"id": "x"}]}, {})
    assert checked["getMessageHistory"].answer_problem({"messages": [], "nextCursor": 200}, {})
    assert checked["bulkMessages"].answer_problem({"results": [{"index": 0, "messageId": "a"}]}, sent_bulk)


def test_a_name_is_registered_once(archive_chat):
    with pytest.raises(ValueError):
        provider_endpoints.register(archive_chat)
