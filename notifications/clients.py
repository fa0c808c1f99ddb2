"""Configured clients for Telegram, VK and OneSignal, built from settings.

The bots (issue 7) reuse `telegram_bot()` and `vk_session()` so that both the
notification channels and the bot dialogs talk to the same configurable base URLs
(a local Bot API server, or the fake servers in tests).
"""

import functools
import os
import threading
from urllib.parse import urlencode, urlsplit

import jconfig
import requests
import telebot
from django.conf import settings
from telebot import apihelper
from vk_api import VkApi
from vk_api import exceptions as vk_exceptions

from config.http import adapter_send

USER_AGENT = "SberCRM-Notifications/1.0"
VK_DEFAULT_BASE = "https://api.vk.ru"


class ChannelNotConfigured(Exception):
    pass


def telegram_bot(*, threaded: bool = False) -> telebot.TeleBot:
    """A TeleBot for TELEGRAM_BOT_TOKEN, with apihelper.API_URL set from TELEGRAM_API_BASE_URL."""
    if not settings.TELEGRAM_BOT_TOKEN:
        raise ChannelNotConfigured("TELEGRAM_BOT_TOKEN не задан: Telegram отключён.")
    base = settings.TELEGRAM_API_BASE_URL.rstrip("/")
    # pyTelegramBotAPI keeps the URL in a module global; None means api.telegram.org.
    apihelper.API_URL = None if base == "https://api.telegram.org" else base + "/bot{0}/{1}"
    apihelper.CONNECT_TIMEOUT = settings.NOTIFICATIONS_CHANNEL_TIMEOUT
    apihelper.CUSTOM_REQUEST_SENDER = telegram_request
    return telebot.TeleBot(settings.TELEGRAM_BOT_TOKEN, threaded=threaded)


_telegram = threading.local()


def telegram_request(method, url, params=None, files=None, timeout=None, proxies=None) -> requests.Response:
    """pyTelegramBotAPI's HTTP call (`apihelper.CUSTOM_REQUEST_SENDER`): a kept-alive session per thread that
    does not read the environment on every call, as requests' `trust_env` does (proxy variables, CA bundle,
    .netrc: ~6 % of a send's CPU, issue 19). The environment's proxies still apply (Telegram is often reached
    through one): read once per process and host, NO_PROXY included (`environment_proxies`); an explicit
    `apihelper.proxy` wins, as before."""
    session = getattr(_telegram, "session", None)
    if session is None:
        session = _telegram.session = requests.Session()
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    parts = urlsplit(url)
    proxies = {**environment_proxies(f"{parts.scheme}://{parts.netloc}"), **(proxies or {})}
    form = method == "post" and not files and params  # the fields as a form body: no rescan of a long URL
    # through the session's adapter (config/http.py): no merging of session settings per call
    return adapter_send(session, method, url, data=form_encode(params) if form else None,
                        params=None if form else params, files=files, timeout=timeout, proxies=proxies,
                        verify=session.verify, headers={"Content-Type": FORM} if form else None)


FORM = "application/x-www-form-urlencoded"


def form_encode(params: dict) -> bytes:
    """The body requests makes of a dict (a None value left out, a list's items repeated), made here: requests 2.34
    checks such a body against its runtime protocols, ~0.15 ms per Telegram call (issue 19). Bytes skip that."""
    return urlencode([(key, item) for key, value in params.items()
                      for item in (value if isinstance(value, (list, tuple)) else (value,)) if item is not None]).encode()


@functools.lru_cache(maxsize=64)
def environment_proxies(origin: str) -> dict:
    """The proxies the environment sets for this origin (`scheme://host[:port]`), {} when NO_PROXY covers it:
    what requests reads on every call, read once per process (a test that changes the variables calls
    `environment_proxies.cache_clear()`)."""
    return requests.utils.get_environ_proxies(origin)


class _RebasedSession(requests.Session):
    """requests.Session that sends vk_api's hard-coded https://api.vk.ru calls to `base_url`."""

    def __init__(self, base_url: str, timeout: float):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers["User-Agent"] = USER_AGENT
        self.max_redirects = 0

    def request(self, method, url, *args, **kwargs):
        if isinstance(url, str) and url.startswith(VK_DEFAULT_BASE):
            url = self.base_url + url[len(VK_DEFAULT_BASE):]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def vk_session() -> VkApi:
    """A VkApi for the community token VK_GROUP_TOKEN, pointed at VK_API_BASE_URL."""
    if not settings.VK_GROUP_TOKEN:
        raise ChannelNotConfigured("VK_GROUP_TOKEN не задан: VK отключён.")
    vk = VkApi(
        token=settings.VK_GROUP_TOKEN,
        api_version=settings.VK_API_VERSION,
        config=jconfig.MemoryConfig,
        session=_RebasedSession(settings.VK_API_BASE_URL, settings.NOTIFICATIONS_CHANNEL_TIMEOUT),
    )
    # vk_api retries error 6 (too many requests) forever in-process; our shared
    # rate limiter and the Celery retries handle it instead.
    vk.error_handlers.pop(vk_exceptions.TOO_MANY_RPS_CODE, None)
    return vk


def onesignal_post(path: str, payload: dict) -> requests.Response:
    """POST to the OneSignal REST API (ONESIGNAL_API_BASE_URL), no redirects, bounded time."""
    if not (settings.ONESIGNAL_APP_ID and settings.ONESIGNAL_API_KEY):
        raise ChannelNotConfigured("ONESIGNAL_APP_ID/ONESIGNAL_API_KEY не заданы: push отключён.")
    return requests.post(
        settings.ONESIGNAL_API_BASE_URL.rstrip("/") + path,
        json={"app_id": settings.ONESIGNAL_APP_ID, **payload},
        headers={"Authorization": f"Key {settings.ONESIGNAL_API_KEY}", "User-Agent": USER_AGENT},
        timeout=settings.NOTIFICATIONS_CHANNEL_TIMEOUT,
        allow_redirects=False,
    )
