"""Marketplace writes, one module per topic. Import from here (`from marketplace import services`).

- applications.py   apps, versions, scopes
- moderation.py     moderation, testing (test-stand runs), publishing
- installations.py  tenant installations
- providers.py      the provider's signing secret and provider configurations
- signup.py         developer self-service sign-up
- sandbox.py        the developer company's sandbox tenant
- common.py         the decision history and the communications scope

Everything that concerns the communications module goes through `marketplace.gateway`; reads live in
`marketplace.selectors`.
"""

from marketplace.services.applications import (  # noqa: F401
    app_version_create,
    app_version_scopes_set,
    application_create,
    scopes_removal_check,
)
from marketplace.services.installations import (  # noqa: F401
    installation_install,
    installation_uninstall,
    installation_upgrade,
)
from marketplace.services.moderation import (  # noqa: F401
    app_version_approve,
    app_version_mark_tested,
    app_version_publish,
    app_version_reject,
    app_version_submit,
    app_version_test_run_start,
)
from marketplace.services.providers import (  # noqa: F401
    application_signing_secret_rotate,
    provider_configuration_save,
)
