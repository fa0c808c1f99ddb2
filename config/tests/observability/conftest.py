from bots.tests.conftest import _bot_fakes, tg  # noqa: F401  shared fixtures
from communications.tests.callbacks.conftest import fake_provider, fast  # noqa: F401
from notifications.tests.conftest import _fake_servers, fakes, make_recipient, send  # noqa: F401
