"""Text from outside (a node, a secret store) made safe to show: control characters named or escaped."""

from __future__ import annotations

import unicodedata


def control_character(value: str) -> str | None:
    """The first control character of ``value`` as ``0x0a``, or None (to name it, never the value)."""
    for char in value:
        if ord(char) < 32 or ord(char) == 127:
            return f"0x{ord(char):02x}"
    return None


#: Unicode categories that are never part of a name: controls, format characters (bidi overrides),
#: surrogates (bytes that were not UTF-8), private use, unassigned, line and paragraph separators.
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def is_name_text(text: str) -> bool:
    """True when ``text`` has no character of ``_NOT_IN_NAMES`` (spaces, letters of any script are fine)."""
    return text.isprintable() or not any(unicodedata.category(c) in _NOT_IN_NAMES for c in text)


def unicode_safe(text: str) -> str:
    """``text`` that encodes as UTF-8: a lone surrogate (a byte that was not UTF-8, or an unpaired JSON
    escape) becomes U+FFFD. Newlines and tabs are kept (free text such as an error message)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def printable(text: str) -> str:
    """``text`` with every control character escaped (``\\x1b``): node-written text in a log line or on a
    console can neither forge a line nor drive the terminal."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
