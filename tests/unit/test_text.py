"""Text from outside made safe: names, attribute values and free text (tables of cases)."""

from __future__ import annotations

import pytest
from exalate_collector.text import control_character, is_name_text, printable, unicode_safe


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("AllContent", True),
        ("Prod to Dev", True),
        ("Prod\u00a0Dev", True),
        ("Über-Jira ✓", True),
        ("bad\x07", False),
        ("line\u2028sep", False),
        ("bidi\u202eevil", False),
        ("lone\ud800", False),
        ("tab\t", False),
    ],
)
def test_a_name_has_no_control_format_or_separator_character(name, ok):
    assert is_name_text(name) is ok


@pytest.mark.parametrize(
    ("text", "safe"), [("plain", "plain"), ("a\ud800b", "a\ufffdb"), ("multi\nline", "multi\nline")]
)
def test_free_text_always_encodes_as_utf8(text, safe):
    assert unicode_safe(text) == safe
    unicode_safe(text).encode("utf-8")


@pytest.mark.parametrize(
    ("text", "shown"), [("\x9b31m", "\\x9b31m"), ("a\u202eb", "a\\u202eb"), ("x\udc9by", "x\\udc9by")]
)
def test_printable_escapes_c1_controls_bidi_overrides_and_surrogates(text, shown):
    assert printable(text) == shown and printable(text).isascii()


def test_a_control_character_is_named_by_its_code():
    assert control_character("token\x07") == "0x07" and control_character("fine") is None
