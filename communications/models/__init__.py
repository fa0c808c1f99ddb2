"""Communications models, split by topic.

- providers.py      providers, their versioned configurations, tenant bindings
- conversations.py  integration tokens, accounts, channels, chats, messages, webhooks
- attachments.py    message attachments and direct uploads
- deliveries.py     the outbox of calls to providers and webhooks
- sync.py           initial sync of chat history after activation
- teststand.py      conformance runs of provider configurations (test stand)
- operator.py       Idempotency-Keys of the CRM operator's writes
"""

from .attachments import Attachment, Upload  # noqa: F401
from .conversations import *  # noqa: F401,F403
from .deliveries import *  # noqa: F401,F403
from .operator import OperatorRequest  # noqa: F401
from .providers import ConfigurationBinding, Provider, ProviderConfiguration, TenantConfiguration  # noqa: F401
from .sync import *  # noqa: F401,F403
from .teststand import ConformanceCheck, ConformanceRun, SandboxTenant  # noqa: F401
