"""What each kind of answer means (the endpoint table's ``answer`` column, ``PARSERS``): the 2.4 queues and
error lists (arrays, every item counted, the first ``MAX_KEPT_ITEMS`` kept), the 4.0 totals and error
count (one non-negative int64), and the 4.0 connection list. An error item is read defensively (what is
missing or of the wrong type is left out) and its node text made safe: identifiers and reasons cut to one
printable line, messages redacted and cut. JSON scanning itself is ``json_scan``'s.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from .endpoints import Answer, Endpoint
from .json_scan import iter_array, shape_error
from .readings import MAX_NAME_CHARS, UNKNOWN, Connection, ErrorItem, Reading
from .redact import redact, scrub
from .text import is_name_text, printable, unicode_safe

#: Free text from the node (error messages) is cut here before it becomes an event body.
MAX_MESSAGE_CHARS = 2048
#: Identifiers and reasons longer than this are not identifiers; they are cut.
MAX_VALUE_CHARS = 128
#: Of one answer, every item is counted and this many are kept (errors for events, identities for ages).
MAX_KEPT_ITEMS = 10_000


def reading_of(spec: Endpoint, items: Iterable[Any]) -> Reading:
    """Count the items; for an errors endpoint, also read each error and count by reason. Every item is
    counted; the first MAX_KEPT_ITEMS are kept (errors for events and the state, identities for ages), so
    a node answering millions of tiny items costs counting, not memory."""
    if spec.answer == "errors":
        kept: list[ErrorItem] = []
        reasons: Counter[str] = Counter()
        count = 0
        for item in items:
            count += 1
            error = error_item(spec, item)
            reasons[error.reason] += 1
            if count <= MAX_KEPT_ITEMS:
                kept.append(error)
        return Reading(items=count, reasons=dict(sorted(reasons.items())), errors=tuple(kept))
    count, identities = 0, []
    for item in items:
        count += 1
        if count <= MAX_KEPT_ITEMS and (ident := identity_of(item, spec.identity)) is not None:
            identities.append(str(ident))
    return Reading(items=count, identities=tuple(identities))


def parse_array(spec: Endpoint, text: str) -> Reading:
    """A JSON array of items (the 2.4 queues and errors), read item by item."""
    return reading_of(spec, iter_array(text))


def parse_total(spec: Endpoint, text: str) -> Reading:
    """``{"limit":0,"total":20,"results":[]}`` (the monitoring guide): the total; other fields ignored."""
    return Reading(items=count_at(json.loads(text), "total"))


def parse_error_count(spec: Endpoint, text: str) -> Reading:
    """``{"numErrors":0}`` (the monitoring guide's customer monitor)."""
    return Reading(items=count_at(json.loads(text), "numErrors"))


def parse_connections(spec: Endpoint, text: str) -> Reading:
    """The connection list. Not published: a list, or ``{"results": [...]}``, of objects with at least a
    ``name``; ``status`` (ACTIVE, DEACTIVATED, ...) and ``id`` when present; other fields ignored."""
    value = json.loads(text)
    items, here = value, "$"
    if isinstance(value, dict):
        if "results" not in value:
            raise shape_error("$.results", "a list of connections", None, missing=True)
        items, here = value["results"], "$.results"
    if not isinstance(items, list):
        raise shape_error(here, "a list of connections", items)
    found: dict[str, Connection] = {}
    for index, item in enumerate(items):
        where = f"{here}[{index}]"
        if not isinstance(item, dict):
            raise shape_error(where, "an object", item)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise shape_error(f"{where}.name", "a non-empty string", name)
        if len(name) > MAX_NAME_CHARS or not is_name_text(name):  # '.' and '..' are left out by discovery
            expected = f"a connection name (at most {MAX_NAME_CHARS} characters, no control characters)"
            raise shape_error(f"{where}.name", expected, name)
        status = item.get("status", UNKNOWN)
        if not isinstance(status, str):
            raise shape_error(f"{where}.status", "a string", status)
        status = status.strip().upper()[:MAX_VALUE_CHARS] or UNKNOWN
        found.setdefault(name, Connection(name, status, _ident(item.get("id"))))
    return Reading(items=len(found), connections=tuple(found.values()))


def count_at(value: object, key: str) -> int:
    """The non-negative integer ``value[key]``, below 2^63 (an OTLP gauge is an int64: a larger value
    would fail the whole metrics export); UnexpectedShape naming the path otherwise."""
    if not isinstance(value, dict):
        raise shape_error("$", f"an object with {key!r}", value)
    count = value.get(key)
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise shape_error(f"$.{key}", "a non-negative integer", count, missing=key not in value)
    if count >= _INT64:
        raise shape_error(f"$.{key}", "a non-negative integer below 2^63", count)
    return count


#: The parser of each kind of answer (the table's ``answer`` column).
PARSERS: dict[Answer, Callable[[Endpoint, str], Reading]] = {
    "queue": parse_array,
    "errors": parse_array,
    "total": parse_total,
    "error_count": parse_error_count,
    "connections": parse_connections,
}


def identity_of(item: object, path: tuple[str, ...]) -> int | str | None:
    """The value at ``path`` inside one item (e.g. ``blobMetadata.blobId``); None when absent or not an id."""
    value: object = item
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return _ident(value) if path else None


def error_item(spec: Endpoint, item: object) -> ErrorItem:
    """Read one error item defensively: anything missing, null or of the wrong type is left out."""
    if not isinstance(item, dict):
        return ErrorItem(endpoint=spec.name, reason=UNKNOWN)
    source = item.get("sourceIssueKey")
    source = source if isinstance(source, dict) else {}
    reason = _text(item.get(spec.reason or "")) or UNKNOWN
    ident = identity_of(item, spec.identity)
    return ErrorItem(
        endpoint=spec.name,
        reason=reason,
        message=_message(item.get(spec.message or "")),
        sync_event_id=_ident(item.get("syncEventId")),
        issue_key=_text(source.get("urn")),
        issue_id=_ident(source.get("id")),
        blob_id=_ident(item.get("blobId")) if "blobId" in spec.extra_ids else None,
        blob_event_id=_ident(item.get("blobEventId")) if "blobEventId" in spec.extra_ids else None,
        identity=None if ident is None else f"{ident}|{reason}",
    )


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = scrub(value.strip()) if len(value) > MAX_VALUE_CHARS // 2 else value.strip()
    # scrubbed before the cut (no credential is cut in half); an attribute value: one printable line
    return printable(value[:MAX_VALUE_CHARS]) or None


#: Identifiers are exported as OTLP int64 attributes; larger integers travel as (cut) text.
_INT64 = 2**63


def _ident(value: object) -> int | str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -_INT64 <= value < _INT64 else _text(value)
    return _text(value)


def _message(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = unicode_safe(redact(value))
    return cleaned[:MAX_MESSAGE_CHARS] or None
