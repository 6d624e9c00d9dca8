"""Text from outside (a node, a secret store) made safe to show: control characters named or escaped."""

from __future__ import annotations


def control_character(value: str) -> str | None:
    """The first control character of ``value`` as ``0x0a``, or None (to name it, never the value)."""
    for char in value:
        if ord(char) < 32 or ord(char) == 127:
            return f"0x{ord(char):02x}"
    return None


def printable(text: str) -> str:
    """``text`` with every control character escaped (``\\x1b``): node-written text in a log line or on a
    console can neither forge a line nor drive the terminal."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
