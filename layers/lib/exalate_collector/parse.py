"""Pure interpretation of one HTTP answer: status, content type and body in, a ``Reading`` out.

No network, no AWS, no OpenTelemetry here: every function takes bytes and returns values or raises a
``PollFailure`` subclass, so the whole behaviour is testable with tables of cases.
"""

from __future__ import annotations

import codecs
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from . import errors
from .endpoints import Answer, Endpoint, row
from .redact import excerpt, redact, scrub
from .text import is_name_text, printable, unicode_safe

UNKNOWN = "UNKNOWN"
#: Free text from the node (error messages) is cut here before it becomes an event body.
MAX_MESSAGE_CHARS = 2048
#: Identifiers and reasons longer than this are not identifiers; they are cut.
MAX_VALUE_CHARS = 128
#: A connection name from the 4.0 list goes into URLs, attributes, log lines and the state as it is:
#: a longer one, or one with a control character, is not a name (the list is unexpected_shape).
MAX_NAME_CHARS = 255
#: Of one answer, every item is counted and this many are kept (errors for events, identities for ages).
MAX_KEPT_ITEMS = 10_000


def is_connection_name(name: object) -> bool:
    """A name the collector may put into a URL path, an attribute, a log line and the state: a
    non-empty string of at most MAX_NAME_CHARS characters, no control character, not a dot segment
    ('.' or '..' would leave /relations/)."""
    return (
        isinstance(name, str)
        and bool(name.strip())
        and len(name) <= MAX_NAME_CHARS
        and is_name_text(name)
        and name not in (".", "..")
    )


_NOT_FOUND = re.compile(r"^\s*Connection\s+`?[^`]*`?\s+not\s+found", re.IGNORECASE)
_JSON_TYPES = ("application/json", "text/json")


@dataclass(frozen=True)
class ErrorItem:
    """The safe part of one item of ``errorresponses`` or ``bloberrorresponses``.

    Only identifiers, the reason and the node's error message are kept; nothing of a replica.
    """

    endpoint: str
    reason: str
    message: str | None = None
    sync_event_id: int | str | None = None
    issue_key: str | None = None
    issue_id: int | str | None = None
    blob_id: int | str | None = None
    blob_event_id: int | str | None = None
    #: ``<id>|<reason>`` (the id at the row's ``identity`` path): what makes this error the same error
    #: in the next run; None when the item has no id (untrackable).
    identity: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Connection:
    """One connection of the 4.0 list: its name (the relation name of the 2.4 API) and status."""

    name: str
    status: str
    id: int | str | None = None


@dataclass(frozen=True)
class Reading:
    """What a successful poll of one endpoint said."""

    #: Items of a queue or of errors; the total of a 4.0 queue; cmonitor's numErrors; connections listed.
    items: int
    reasons: Mapping[str, int] = field(default_factory=dict)
    errors: tuple[ErrorItem, ...] = ()
    #: Identities of the queued items (syncEventId, or blobId for blob endpoints), for the state.
    identities: tuple[str, ...] = ()
    connections: tuple[Connection, ...] = ()


def media_type(content_type: str | None) -> str:
    """``'application/json; charset=UTF-8'`` -> ``'application/json'``; '' when absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_media_type(mtype: str) -> bool:
    return mtype in _JSON_TYPES or mtype.endswith("+json")


def interpret(
    endpoint: str,
    status: int,
    content_type: str | None,
    body: bytes,
    location: str | None = None,
) -> Reading:
    """Turn one answer into a Reading, or raise the PollFailure that names what was wrong."""
    if status == 200:
        return read_items(endpoint, content_type, body)
    raise failure_for_status(status, content_type, body, location)


def interpret_file(
    endpoint: str,
    status: int,
    content_type: str | None,
    file: BinaryIO,
    location: str | None = None,
) -> Reading:
    """``interpret`` for a body in a (temporary) file: arrays are read item by item as the text is
    decoded slice by slice, so a large answer is never in memory as a whole."""
    file.seek(0)
    if status != 200:
        raise failure_for_status(status, content_type, file.read(EXCERPT_BYTES), location)
    spec = row(endpoint)
    if PARSERS[spec.answer] is not parse_array:
        return read_items(endpoint, content_type, file.read())  # small answers: counts and lists of connections
    _check_json_type(content_type)
    head = file.read(4)
    file.seek(0)
    decoder = codecs.getincrementaldecoder(json.detect_encoding(head))("surrogatepass")

    def text() -> Iterator[str]:
        while chunk := file.read(STREAM_BYTES):
            yield decoder.decode(chunk)
        yield decoder.decode(b"", final=True)

    stream = TextStream(text())
    try:
        return reading_of(spec, stream.array_items())
    except UnicodeDecodeError:
        raise errors.InvalidJson("body is not UTF-8 (or UTF-16/32) text", 200) from None
    except json.JSONDecodeError as exc:
        at = stream.offset + exc.pos
        raise errors.InvalidJson(f"invalid JSON at character {at}: {exc.msg}", 200) from None
    except ValueError:
        raise errors.InvalidJson("a number too long to read (thousands of digits)", 200) from None
    except RecursionError:
        raise errors.InvalidJson("JSON nested too deeply to read", 200) from None


#: Bytes read from a body file at a time; and enough of an error body for its excerpt.
STREAM_BYTES = 1024 * 1024
EXCERPT_BYTES = 4096


class TextStream:
    """A JSON array read from text that arrives in pieces: only the current item and the unread rest of
    the current piece are held. ``offset`` is the position of ``buffer[0]`` in the whole text."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self.buffer = ""
        self.pos = 0
        self.offset = 0
        self.eof = False

    def _more(self) -> bool:
        """Append the next piece (dropping what was read). False at the end of the text."""
        for piece in self._pieces:
            if piece:
                self.offset += self.pos
                self.buffer = self.buffer[self.pos :] + piece
                self.pos = 0
                return True
        self.eof = True
        return False

    def _skip_space(self) -> str:
        """The next character after whitespace ('' at the end of the text)."""
        while True:
            self.pos = _WHITESPACE.match(self.buffer, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._more():
                return ""

    def array_items(self) -> Iterator[Any]:
        first = self._skip_space()
        if first != "[":
            while self._more():
                pass
            value = json.loads(self.buffer[self.pos :])  # raises JSONDecodeError for invalid JSON
            raise _shape("$", "a JSON array", value)
        self.pos += 1
        if self._skip_space() == "]":
            self.pos += 1
        else:
            while True:
                yield self._item()
                following = self._skip_space()
                if following == ",":
                    self.pos += 1
                    continue
                if following == "]":
                    self.pos += 1
                    break
                raise json.JSONDecodeError("Expecting ',' delimiter", self.buffer, self.pos)
        if self._skip_space() != "":
            raise json.JSONDecodeError("Extra data", self.buffer, self.pos)

    def _item(self) -> Any:
        self._skip_space()
        while True:
            try:
                item, end = _DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError:
                if self._more():
                    continue  # the item goes on in the next piece
                raise
            if not self.eof and not _FOLLOWS_ITEM.match(self.buffer, end) and self._more():
                continue  # "3." of "3.25": a number may go on in the next piece; read it again whole
            self.pos = end
            return item


def failure_for_status(
    status: int, content_type: str | None, body: bytes, location: str | None = None
) -> errors.PollFailure:
    """The PollFailure for a status other than 200. The excerpt is of the error body only."""
    text = excerpt(body)
    if status == 400 and text and _NOT_FOUND.match(text):
        return errors.ConnectionNotFound(
            "the node says this connection does not exist (removed on the destination side)", status, text
        )
    if status == 401:
        return errors.Unauthorized("the node rejected the credentials (401: incorrect credentials)", status, text)
    if status == 403:
        return errors.Forbidden("the node did not see valid authentication (403: not authenticated)", status, text)
    if 300 <= status < 400:
        target = _safe_location(location)
        # no excerpt: a redirect page repeats its target (user-info, path, query) in forms no pattern knows
        return errors.Redirect(f"redirected ({status}) to {target}; redirects are never followed", status)
    if 500 <= status < 600:
        return errors.ServerError(f"the node failed with HTTP {status}", status, text)
    if status == 404:
        return errors.HttpError(
            "HTTP 404: no such path on this server; is the Jira context path in base_url"
            " (e.g. https://jira.example.com/jira)? is Exalate installed on this Jira?",
            status,
            text,
        )
    return errors.HttpError(f"unexpected HTTP {status}", status, text)


def _safe_location(location: str | None) -> str:
    """The redirect target's scheme and host only: login redirects carry user names, session tokens and
    return URLs in their user-info, path and query."""
    if not location:
        return "(no Location header)"
    try:
        parts = urlsplit(location.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(an unreadable Location header)"
    if parts.scheme and host:
        host = f"[{host}]" if ":" in host else host
        return printable(f"{parts.scheme[:16]}://{host[:255]}{f':{port}' if port else ''}")
    return "(a path on the same host)"


def read_items(name: str, content_type: str | None, body: bytes) -> Reading:
    """Parse a 200 body into a Reading. The body is never quoted in a failure: it may hold replicas."""
    spec = row(name)
    _check_json_type(content_type)
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError:
        raise errors.InvalidJson("body is not UTF-8 (or UTF-16/32) text", 200) from None
    try:
        return PARSERS[spec.answer](spec, text)
    except json.JSONDecodeError as exc:
        raise errors.InvalidJson(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", 200) from None
    except ValueError:  # int() refuses numbers over sys.get_int_max_str_digits() (4,300) digits
        raise errors.InvalidJson("a number too long to read (thousands of digits)", 200) from None
    except RecursionError:
        raise errors.InvalidJson("JSON nested too deeply to read", 200) from None


def _check_json_type(content_type: str | None) -> None:
    mtype = media_type(content_type)
    if mtype and not is_json_media_type(mtype):
        raise errors.UnexpectedContentType(f"expected JSON, got {mtype!r}", 200)


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_FOLLOWS_ITEM = re.compile(r"[ \t\n\r,\]]")
_DECODER = json.JSONDecoder()


def iter_array(text: str) -> Iterator[Any]:
    """The items of a JSON array, parsed one at a time and then let go.

    A queue of thousands of replicas is never held as one object tree: only the text and the current
    item are in memory. Errors are ``json.JSONDecodeError`` with positions in the whole text, exactly as
    ``json.loads`` reports them; a document that is not an array raises UnexpectedShape.
    """
    index = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
    if not text.startswith("[", index):
        value = json.loads(text)  # raises JSONDecodeError for invalid JSON
        raise _shape("$", "a JSON array", value)
    index = _WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
    if text.startswith("]", index):
        index += 1
    else:
        while True:
            item, index = _DECODER.raw_decode(text, index)
            yield item
            index = _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
            if text.startswith(",", index):
                index = _WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
                continue
            if text.startswith("]", index):
                index += 1
                break
            raise json.JSONDecodeError("Expecting ',' delimiter", text, index)
    end = _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else type(value).__name__


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
            raise _shape("$.results", "a list of connections", None, missing=True)
        items, here = value["results"], "$.results"
    if not isinstance(items, list):
        raise _shape(here, "a list of connections", items)
    found: dict[str, Connection] = {}
    for index, item in enumerate(items):
        where = f"{here}[{index}]"
        if not isinstance(item, dict):
            raise _shape(where, "an object", item)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _shape(f"{where}.name", "a non-empty string", name)
        if len(name) > MAX_NAME_CHARS or not is_name_text(name):  # '.' and '..' are left out by discovery
            expected = f"a connection name (at most {MAX_NAME_CHARS} characters, no control characters)"
            raise _shape(f"{where}.name", expected, name)
        status = item.get("status", UNKNOWN)
        if not isinstance(status, str):
            raise _shape(f"{where}.status", "a string", status)
        status = status.strip().upper()[:MAX_VALUE_CHARS] or UNKNOWN
        found.setdefault(name, Connection(name, status, _ident(item.get("id"))))
    return Reading(items=len(found), connections=tuple(found.values()))


def count_at(value: object, key: str) -> int:
    """The non-negative integer ``value[key]``, below 2^63 (an OTLP gauge is an int64: a larger value
    would fail the whole metrics export); UnexpectedShape naming the path otherwise."""
    if not isinstance(value, dict):
        raise _shape("$", f"an object with {key!r}", value)
    count = value.get(key)
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise _shape(f"$.{key}", "a non-negative integer", count, missing=key not in value)
    if count >= _INT64:
        raise _shape(f"$.{key}", "a non-negative integer below 2^63", count)
    return count


def _shape(path: str, expected: str, got: object, missing: bool = False) -> errors.UnexpectedShape:
    found = "nothing" if missing else f"a JSON {_json_kind(got)}"
    return errors.UnexpectedShape(f"{path}: expected {expected}, got {found}", 200)


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
