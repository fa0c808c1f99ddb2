"""Every portal page renders without login, and every internal link and #anchor on it resolves."""

from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from communications.channels import KNOWN_CHANNELS
from communications.endpoints import endpoint_list
from communications.models import Webhook
from communications.portal.views import PAGES, sample_source

PAGE_URLS = [reverse(page.name) for page in PAGES] + [reverse("developers-swagger"), reverse("developers-redoc")]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name):
                self.links.append(attrs[name])


def _parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def rendered(django_db_blocker):
    from django.test import Client

    client = Client()
    pages = {}
    with django_db_blocker.unblock():
        for url in PAGE_URLS:
            response = client.get(url)
            pages[url] = (response.status_code, response.content.decode())
    return pages


@pytest.mark.parametrize("url", PAGE_URLS)
def test_page_renders_without_login(rendered, url):
    status, html = rendered[url]
    assert status == 200
    assert "<html" in html


@pytest.mark.parametrize("url", PAGE_URLS)
def test_every_internal_link_and_anchor_resolves(client, rendered, url):
    broken = []
    for link in _parse(rendered[url][1]).links:
        absolute = urljoin(url, link)
        parts = urlsplit(absolute)
        if parts.scheme in ("http", "https") and parts.netloc:
            continue  # external sites are not ours to check
        target, fragment = urldefrag(absolute)
        path = urlsplit(target).path
        if path.startswith("/static/"):
            if not finders.find(path.removeprefix("/static/")):
                broken.append(link)
            continue
        if path in rendered:
            status, html = rendered[path]
        else:
            response = client.get(target)
            status, html = response.status_code, response.content.decode(errors="replace")
        if status != 200 or (fragment and fragment not in _parse(html).ids):
            broken.append(link)
    assert not broken, f"broken links on {url}: {broken}"


def test_nav_lists_every_page(rendered):
    links = set(_parse(rendered[reverse("developers-index")][1]).links)
    assert {reverse(page.name) for page in PAGES} <= links


def test_channels_table_is_generated_from_the_code_list(rendered):
    html = rendered[reverse("developers-channels")][1]
    for kind in KNOWN_CHANNELS.values():
        assert f'id="channel-{kind.code}"' in html and kind.name in html and kind.icon_url in html
    assert "/static/communications/channels/unknown.svg" in html  # the stub is shown and explained


def test_webhook_page_lists_the_events_the_api_accepts(rendered):
    html = rendered[reverse("developers-webhooks")][1]
    for event in Webhook.Event:
        assert f'id="event-{event.value}"' in html


def test_test_stand_page_documents_every_verdict_and_check(rendered):
    html = rendered[reverse("developers-test-stand")][1]
    for verdict in ("ok", "unreachable", "tls_error", "bad_status", "contract_violation", "timeout",
                    "not_idempotent", "redirect"):
        assert f'id="verdict-{verdict}"' in html
    for check in ("getChannels", "sendMessage", "updateMessageContent", "updateMessageStatus", "markChatRead",
                  "disconnect"):
        assert f"<code>{check}</code>" in html


def test_guide_shows_the_samples_verbatim(rendered):
    from django.utils.html import escape

    html = rendered[reverse("developers-guide")][1]
    for name in ("verify_signature.py", "provider_endpoint.py", "public_api_message.py", "public_api_all.py",
                 "public_api_attachment.py"):
        assert escape(sample_source(name)) in html, name
    for endpoint in endpoint_list():
        assert f'id="endpoint-{endpoint.name}"' in html
