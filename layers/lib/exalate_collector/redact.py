"""Last line of defence: strip what must never reach telemetry or logs from free text."""

from __future__ import annotations

import codecs
import re

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Long base64 runs are what encodedPayload looks like; no human message needs them.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{120,}")
_SPACE = re.compile(r"\s+")


def redact(text: str) -> str:
    """Replace tokens, e-mail addresses and long base64 runs; fold whitespace onto one line."""
    text = _JWT.sub("<token>", text)
    text = _EMAIL.sub("<email>", text)
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
    cleaned = redact(text)
    return cleaned[:limit] or None
