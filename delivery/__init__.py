"""The delivery engine: one home for what every outbound call shares (docs/delivery-engine.md).

- `delivery.outcomes`: the one classification — success / permanent / transient / ambiguous (+ broken);
- `delivery.policy`: the one retry policy, with a schedule per kind in settings;
- `delivery.dispatch`: robust dispatch after commit, fail-fast publishing, the sweeper as backstop;
- `delivery.engine`: the life of one row — claim and lease, one attempt, the outcome, retry, unknown,
  dead letters, chain order, the sweeper, admin retry and cancel;
- `delivery.kinds`: what a kind tells the engine (`Kind.send` classifies one call as an `Attempt`).

Kinds and where their rows live:

| kind | row | per-kind code (builds the request, classifies the answer) |
|---|---|---|
| provider, webhook | `communications.Delivery` (+ `DeliveryAttempt` log) | `communications/services/deliveries.py` |
| callback (notification status events) | `communications.Delivery` (no tenant, no provider) | `notifications/services/callbacks.py` builds the event |
| notification | `communications.Delivery` (history: `notifications.Notification`) | `notifications/services/sending.py`, `notifications/transports/*` |
| sync_page, sync_import | `communications.Delivery` (summary: `communications.InitialSync`; kept answers: `InitialSyncPage`) | `communications/services/sync.py` |
| teststand_run | `communications.Delivery` (verdict and checks: `communications.ConformanceRun`) | `communications/services/teststand.py` |
| attachment_fetch | `communications.Delivery` (the file: `communications.Attachment`) | `communications/services/attachment_fetch.py` |

One sweeper for every kind: `communications.deliveries_sweep`.
"""
