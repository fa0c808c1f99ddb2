"""Provider data that arrives many items at a time: `POST /api/v1/bulk/messages` and the
initial sync's `getMessageHistory` pages.

Each item is judged on its own, so one poisoned item never costs the others:
1. text the database can't store (U+0000, a lone surrogate) anywhere in the item → item error
   naming the field;
2. the item is validated like `POST /api/v1/messages`;
3. the valid items are stored with one bulk insert in a savepoint; if the database still refuses
   the batch (a value it can't hold that slipped past 1–2), each item is retried in its own
   savepoint and only the refused ones become item errors.
"""

import logging
import uuid
from datetime import datetime

from django.db import DataError, transaction

from communications.models import Provider
from communications.services.conversations import BulkItemResult, messages_bulk_create
from config.text import unstorable_escaped, unstorable_replaced, unstorable_text

logger = logging.getLogger(__name__)

REFUSED = "База данных не приняла это сообщение."
storable = unstorable_replaced  # U+0000 and lone surrogates → U+FFFD (e.g. a history cursor)


def _item_id(item) -> str | None:
    value = item.get("id") if isinstance(item, dict) else None
    return unstorable_escaped(value) if isinstance(value, str) else None


def _plain(errors):
    """ReturnDict/ErrorDetail → plain JSON (same shape as the error envelope's fields)."""
    if isinstance(errors, dict):
        return {key: _plain(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_plain(value) for value in errors]
    return str(errors)


def _store(tenant_id, provider, valid: list[tuple[int, dict]], **options) -> dict[int, BulkItemResult]:
    """`messages_bulk_create` (`options`: its `conflicts` and `received_at`), item by item if the batch is refused."""
    try:
        with transaction.atomic():
            return messages_bulk_create(tenant_id=tenant_id, provider=provider, items=valid, **options)
    except (DataError, ValueError) as exc:  # psycopg: NUL is a ValueError, bad encoding a DataError
        logger.warning("bulk insert of %s messages refused (%s); storing them one by one",
                       len(valid), type(exc).__name__)
    results = {}
    for index, data in valid:
        try:
            with transaction.atomic():
                results.update(messages_bulk_create(tenant_id=tenant_id, provider=provider, items=[(index, data)],
                                                    **options))
        except (DataError, ValueError) as exc:
            logger.warning("message %s refused by the database: %s", index, type(exc).__name__)
            results[index] = BulkItemResult(index, _item_id({"id": data["external_id"]}), "error",
                                            {"non_field_errors": [REFUSED]})
    return results


def channel_item_problem(item) -> str:
    """Why a `getChannels` item can't be imported ("" when it can)."""
    if not isinstance(item, dict) or not item.get("id") or not item.get("code"):
        return "нет id или code"
    found = unstorable_text(item)
    return f"{found[0]}: {found[1]}" if found else ""


def messages_import(*, tenant_id: uuid.UUID, provider: Provider, items: list, conflicts: bool = False,
                    light: bool = False, storable: bool = False, received_at: datetime | None = None
                    ) -> list[BulkItemResult]:
    """Store raw message items (as in `POST /api/v1/messages`), each judged on its own.
    With `conflicts` (the public API), a known id with another body is an item error on `id`.
    With `received_at` (history pages), the messages arrived then (their `created_at`), not now.
    With `light` (history pages), plain items skip DRF (api/public/message_items.py: same rules and errors).
    With `storable`, the caller has checked already that no item holds unstorable text (step 1).
    Returns one result per item, in order: created / duplicate / error (with errors by field)."""
    from communications.api.public.message_items import validate_messages  # one format
    from communications.api.public.serializers import PublicMessageCreateSerializer, validate_each

    results: dict[int, BulkItemResult] = {}
    clean: list[tuple[int, object]] = []
    page_clean = storable or unstorable_text(items) is None  # the usual case: one check of the page, not per item
    for index, item in enumerate(items):
        found = None if page_clean else unstorable_text(item)
        if found:
            results[index] = BulkItemResult(index, _item_id(item), "error", {found[0]: [found[1]]})
        else:
            clean.append((index, item))
    clean_items = [item for _, item in clean]
    valid, errors = (validate_messages(clean_items) if light
                     else validate_each(PublicMessageCreateSerializer, clean_items))
    for position, item_errors in errors.items():
        index, item = clean[position]
        results[index] = BulkItemResult(index, _item_id(item), "error", _plain(item_errors))
    valid = [(clean[position][0], data) for position, data in valid]
    if valid:
        results.update(_store(tenant_id, provider, valid, conflicts=conflicts, received_at=received_at))
    return [results[index] for index in range(len(items))]
