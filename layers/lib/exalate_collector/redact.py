"""What must never leave the process: removed from every text by knowledge first, then by pattern. **By
knowledge**: every credential the collector holds or sends is registered here the moment it is known
(``remember``): resolved secrets and tokens, the basic-auth pair in plain and base64, each minted JWT, the
OTLP header values, with their URL-encoded forms (held by ``known_credentials``). Wherever one of them
appears, in any text, it is replaced by ``<secret>`` -- whatever the node echoed and however it was echoed.
**By pattern**, for what the collector cannot know: ``Bearer``/``Basic`` credentials, JWT-like tokens,
``password=``/``token=``/``secret=`` values, AWS access key ids, the user-info of URLs (``scrub``); and in
free text from a node also e-mail addresses, phone-like numbers and long base64 runs (``redact``). Applied
to: event bodies and attributes, metric attributes (telemetry/points.py), log lines (the handler filter in
logs.py), the archive's records (the body by knowledge only: replicas stay byte for byte unless they hold
one of our credentials), error messages (answer_parsers.py) and excerpts (parse.py).
"""

from __future__ import annotations

import base64
import codecs
import functools
import logging
import re
from collections.abc import Iterable, Iterator

from .known_credentials import JWT_START, MIN_KNOWN_CHARS, KnownCredentials, forms, replace_minted

SECRET = "<secret>"
#: Minted tokens are remembered up to this many (older ones have long expired). More than the run-wide
#: cap on requests in flight (limits.max_in_flight, at most 1,024): a token still travels while remembered.
MAX_TOKENS = 4096
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")

_KNOWN = KnownCredentials()


def _minted_out(text: str) -> str:
    """``text`` with every minted token we remember replaced, wherever it appears (inside a longer
    base64url run too): at each ``eyJ``, a set look-up per token length."""
    return replace_minted(text, JWT_START, _KNOWN.tokens, _KNOWN.token_lengths, SECRET)


def _minted_out_bytes(data: bytes) -> bytes:
    """``_minted_out`` of raw bytes (an archived body); returns ``data`` itself when none is in it."""
    start, secret = JWT_START.encode("ascii"), SECRET.encode("ascii")
    return replace_minted(data, start, _KNOWN.token_bytes, _KNOWN.token_lengths, secret)


def remember(value: str | None) -> None:
    """Register a credential (and its encodings) so that it is removed from all text from now on."""
    if value:
        _KNOWN.add(forms(value))


def remember_token(token: str) -> None:
    """Register a minted token (or one a login returned): removed from all text from now on. A JWT
    (every one the collector mints) joins the set of tokens, of which the latest MAX_TOKENS are kept;
    anything else is remembered like a secret."""
    if len(token) < MIN_KNOWN_CHARS:
        return
    if _JWT.fullmatch(token):
        _KNOWN.add_token(token, MAX_TOKENS)
    else:
        remember(token)


def remember_basic(username: str, password: str) -> None:
    """The basic-auth credential in every form it travels in: the password, the pair, the pair in base64."""
    pair = f"{username}:{password}"
    remember(password)
    remember(pair)
    remember(base64.b64encode(pair.encode("utf-8")).decode("ascii"))


def forget_all() -> None:
    """Forget every registered credential (tests)."""
    _KNOWN.clear()


def _without_known(text: str) -> str:
    text = _minted_out(text)  # first: a static value found inside a token must not break the token up
    pattern, _ = _KNOWN.compiled()
    return pattern.sub(SECRET, text) if pattern is not None else text


def scrub_bytes(data: bytes) -> bytes:
    """Known credentials removed from raw bytes (an archived body); everything else is untouched."""
    data = _minted_out_bytes(data)
    _, groups = _KNOWN.compiled()
    for start, members in groups.items():
        if start not in data:
            continue
        for value in members:  # longest first
            if value in data:
                data = data.replace(value, SECRET.encode("ascii"))
    return data


def scrub_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``scrub_bytes`` of a body that comes in slices (a large answer read from its file): the same
    bytes, slice by slice; the tail of each slice waits for the next, so a credential cut in two by
    the slicing is found too."""
    longest = _KNOWN.longest_bytes()
    keep = max(longest, 1) - 1
    carry = b""
    for chunk in chunks:
        data = scrub_bytes(carry + chunk) if longest else chunk
        if keep and len(data) > keep:
            data, carry = data[:-keep], data[-keep:]
        elif keep:
            data, carry = b"", data
        if data:
            yield data
    if carry:
        yield carry


_CREDENTIAL_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(Bearer|Basic|JWT|Digest|Negotiate)(?:\s+|%20|\+)[A-Za-z0-9._~+/=%-]{4,}"), r"\1 <token>"),
    # a JWT starts where a base64url run starts (tried at every eyJ of a long run, the scan is quadratic)
    (re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.?[A-Za-z0-9_-]*"), "<token>"),
    (
        re.compile(
            r"((?:passw(?:or)?d|pwd|pass|token|secret|api[_-]?key|access[_-]?key|jwt|authorization|"
            r"x-exalate-jwt|dd-api-key|x-honeycomb-team|session|sig|signature)\"?\s*[=:]\s*\"?)[^\s\"'&,;}<>]+",
            re.I,
        ),
        r"\1<secret>",
    ),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b"), "<aws-key>"),
    # a URL scheme is short: unbounded, a long dotted run would be rescanned from every letter
    (re.compile(r"\b([a-z][a-z0-9+.-]{0,31}://)[^\s/@:]*(?::[^\s/@]*)?@", re.I), r"\1<userinfo>@"),
)
# From the start of a run only (the same matches; tried inside a long run, the scan is quadratic).
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Phone-like: an international number (+ and 8 or more digits), or 3+ digit groups with separators
# such as "(555) 123-4567" or "0170 123 4567". Plain long numbers (ids, timestamps), dates and IPv4
# addresses are kept.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d[\d ().-]{6,}\d|\(?\d{2,5}\)?[ .-]\d{2,5}[ .-]\d{2,6}(?:[ .-]\d{1,6})?)(?![\w:]|\.\d)"
)
_NOT_PHONE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{1,3}(?:\.\d{1,3}){3}")
# Long base64 runs are what encodedPayload looks like; no human message needs them.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{120,}")
_SPACE = re.compile(r"\s+")


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if _NOT_PHONE.match(text) or digits < (8 if text.startswith("+") else 9):
        return text
    return "<phone>"


def scrub(text: str) -> str:
    """Known credentials, then credential-like patterns, removed; everything else kept as it is."""
    text = _without_known(text)
    for pattern, replacement in _CREDENTIAL_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub_value(text: str) -> str:
    """``scrub`` for attribute values, which repeat across thousands of points (node, relation,
    endpoint names): each distinct value is scrubbed once per state of the known credentials."""
    return _scrub_cached(text, _KNOWN.version)


@functools.lru_cache(maxsize=1 << 16)  # beyond the names of 10,000 relations: an LRU cycled past misses all
def _scrub_cached(text: str, version: int) -> str:
    return scrub(text)


def redact(text: str) -> str:
    """Free text from a node made safe: ``scrub``, then e-mail addresses, phone-like numbers and long
    base64 runs; whitespace folded onto one line."""
    text = scrub(text)
    text = _EMAIL.sub("<email>", text)
    text = _PHONE.sub(_phone, text)
    text = _BASE64_RUN.sub("<base64>", text)
    return _SPACE.sub(" ", text).strip()


def excerpt(body: bytes, limit: int = 256) -> str | None:
    """At most ``limit`` characters of a text body, redacted; None when the body is not UTF-8 text."""
    if not body:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        # final=False: a multi-byte character cut by the slice is not an error.
        text = decoder.decode(body[: limit * 4], final=False)
    except UnicodeDecodeError:
        return None
    if len(body) > limit * 4:
        text = _KNOWN.without_cut_secret(text)
    cleaned = redact(text)
    return cleaned[:limit] or None


class RedactingFilter(logging.Filter):
    """On a handler: every record's message, arguments, extra fields and traceback are scrubbed before
    any formatter sees them, whatever logger (ours or a library's) produced the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken %-format must not drop the line
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, key, scrub(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
            record.exc_info = None
        return True


_RECORD_FIELDS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
