"""Pure interpretation of one HTTP answer: status, content type and body in, a ``Reading`` out, or the
``PollFailure`` that names what was wrong. Here is what holds for any endpoint: the failure of a status
other than 200 (with a redacted excerpt, a redirect's target cut to its scheme and host), the JSON media
type, the text encoding, and how a JSON error is worded; a large array body is streamed from its file
slice by slice. What the JSON means is ``answer_parsers``' (per kind of answer), the scanning of arrays
``json_scan``'s, the values ``readings``'. No network, no AWS, no OpenTelemetry: bytes in, values out.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import urlsplit

from . import errors
from .answer_parsers import PARSERS, parse_array, reading_of
from .endpoints import row
from .json_scan import TextStream
from .readings import ErrorItem, Reading, is_connection_name
from .redact import excerpt
from .text import printable

# ErrorItem, Reading and is_connection_name (readings.py) importable from here as before they moved.
__all__ = [
    "EXCERPT_BYTES",
    "STREAM_BYTES",
    "ErrorItem",
    "Reading",
    "failure_for_status",
    "interpret",
    "interpret_file",
    "is_connection_name",
    "is_json_media_type",
    "media_type",
    "read_items",
]

_NOT_FOUND = re.compile(r"^\s*Connection\s+`?[^`]*`?\s+not\s+found", re.IGNORECASE)
_JSON_TYPES = ("application/json", "text/json")


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
