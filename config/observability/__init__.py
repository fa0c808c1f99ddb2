"""Operations: request ids, metrics, health, heartbeats, Sentry (docs/operations.md)."""
