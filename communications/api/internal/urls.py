"""Internal, service-authenticated API of the communications module (`/internal/v1/`).

- lifecycle/  marketplace → module: providers, app versions, tenant configurations
- tokens/     CRM → module: issue and deactivate integration tokens
- operator/   CRM operator actions in a tenant's chats
- signing/    marketplace → module: rotate and show a provider's signing secret once
"""

from communications.api.internal.lifecycle.urls import urlpatterns as lifecycle_urls
from communications.api.internal.operator.urls import urlpatterns as operator_urls
from communications.api.internal.signing.urls import urlpatterns as signing_urls
from communications.api.internal.tokens.urls import urlpatterns as tokens_urls

urlpatterns = [*lifecycle_urls, *tokens_urls, *operator_urls, *signing_urls]
