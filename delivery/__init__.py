"""The delivery engine: one home for what every outbound call shares (docs/delivery-engine.md).

- `delivery.outcomes`: the one classification — success / permanent / transient / ambiguous (+ broken);
- `delivery.policy`: the one retry policy, with a schedule per kind in settings;
- `delivery.dispatch`: robust dispatch after commit, fail-fast publishing, the sweeper as backstop.

Kinds and where their rows live:

| kind | row | per-kind code (builds the request, classifies the answer) |
|---|---|---|
| provider, webhook | `communications.Delivery` (+ `DeliveryAttempt` log) | `communications/services/deliveries.py` |
| callback (notification status events) | `communications.Delivery` (no tenant, no provider) | `notifications/services/callbacks.py` builds the event |
| notification | `notifications.Notification` | `notifications/channels/*`, `notifications/services/sending.py` |
| sync_page | `communications.InitialSync` | `communications/services/sync.py` |
| teststand_run | `communications.ConformanceRun` (+ checks) | `communications/teststand/services.py` |
"""
