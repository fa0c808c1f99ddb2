from communications.tests.callbacks.conftest import fake_provider, fast  # noqa: F401  shared fixtures
