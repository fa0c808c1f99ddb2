"""The one registry of channel codes the communications module knows.

Providers send a channel `code` with every channel. Known codes get a Russian display
name and an icon; any other code is stored exactly as sent and shown with the generic
stub icon (`static/communications/channels/unknown.svg`). The developer portal's list of
supported codes (docs/public-api.md) is generated from `KNOWN_CHANNELS`.
"""

from dataclasses import dataclass

from django.templatetags.static import static

ICON_DIR = "communications/channels"
STUB_ICON = f"{ICON_DIR}/unknown.svg"


@dataclass(frozen=True)
class ChannelKind:
    code: str
    name: str
    icon: str  # static path
    known: bool = True

    @property
    def icon_url(self) -> str:
        return static(self.icon)


def _known(code: str, name: str) -> ChannelKind:
    return ChannelKind(code=code, name=name, icon=f"{ICON_DIR}/{code}.svg")


KNOWN_CHANNELS: dict[str, ChannelKind] = {
    kind.code: kind
    for kind in (
        _known("telegram", "Telegram"),
        _known("whatsapp", "WhatsApp"),
        _known("vk", "ВКонтакте"),
        _known("viber", "Viber"),
        _known("max", "MAX"),
        _known("avito", "Авито"),
        _known("instagram", "Instagram"),
        _known("facebook", "Facebook Messenger"),
        _known("ok", "Одноклассники"),
        _known("email", "Электронная почта"),
        _known("sms", "SMS"),
        _known("webchat", "Онлайн-чат на сайте"),
    )
}


def channel_kind(code: str) -> ChannelKind:
    """Display data for a channel code. Unknown codes keep their code as the name and get the stub icon."""
    kind = KNOWN_CHANNELS.get((code or "").strip().lower())
    if kind is not None:
        return kind
    return ChannelKind(code=code, name=code, icon=STUB_ICON, known=False)
