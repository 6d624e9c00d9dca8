"""JSON arrays read item by item, without the format knowing what the items mean: ``iter_array`` over a
whole text, ``TextStream`` over text that arrives in pieces (a body file decoded slice by slice), so that
only the current item is ever a Python object. Both report invalid JSON as ``json.JSONDecodeError`` with
positions in the whole text, as ``json.loads`` does, and a document of the wrong kind as the
``UnexpectedShape`` that ``shape_error`` words (the path, what was expected, the JSON kind found).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from . import errors

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_FOLLOWS_ITEM = re.compile(r"[ \t\n\r,\]]")
_DECODER = json.JSONDecoder()


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
            raise shape_error("$", "a JSON array", value)
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


def iter_array(text: str) -> Iterator[Any]:
    """The items of a JSON array, parsed one at a time and then let go.

    A queue of thousands of replicas is never held as one object tree: only the text and the current
    item are in memory. Errors are ``json.JSONDecodeError`` with positions in the whole text, exactly as
    ``json.loads`` reports them; a document that is not an array raises UnexpectedShape.
    """
    index = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
    if not text.startswith("[", index):
        value = json.loads(text)  # raises JSONDecodeError for invalid JSON
        raise shape_error("$", "a JSON array", value)
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


def shape_error(path: str, expected: str, got: object, missing: bool = False) -> errors.UnexpectedShape:
    """``$.total: expected a non-negative integer, got a JSON string`` (``got nothing`` when ``missing``)."""
    found = "nothing" if missing else f"a JSON {_json_kind(got)}"
    return errors.UnexpectedShape(f"{path}: expected {expected}, got {found}", 200)
