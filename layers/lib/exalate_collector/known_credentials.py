"""The credentials this process knows, held for a fast search: static values (secrets, static tokens, the
basic pair, OTLP header values, each with the URL-encoded forms it travels in) in one compiled alternation
for text and in groups by their first bytes for raw bodies; minted JWTs (thousands a run with ``qsh``) in a
set, looked up only where a text holds ``eyJ``, so that registering one never recompiles anything. Also
finding a credential's beginning at the end of a cut text. What is registered and when, and how text is
made safe with it, is ``redact``'s; this module only holds and finds.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Set as AbstractSet
from typing import AnyStr
from urllib.parse import quote, quote_plus

#: Shorter values cannot be searched for without destroying ordinary text; they rely on the patterns.
MIN_KNOWN_CHARS = 6
#: How every JWT begins: its header is a JSON object, and base64url of '{"' is 'eyJ'.
JWT_START = "eyJ"


def forms(value: str) -> set[str]:
    """The value and its URL-encoded forms (as it travels in a query string)."""
    encoded = {value, quote(value, safe=""), quote_plus(value, safe=""), quote(value, safe="-_.~")}
    return {f for f in encoded if len(f) >= MIN_KNOWN_CHARS}


class KnownCredentials:
    """The credentials of this process, in two kinds.

    Static values (secrets, static tokens, the basic pair, OTLP header values) are few and change
    rarely: one compiled alternation finds them all (compiled when next used after a change).
    Minted JWTs (with ``qsh`` one per request, thousands a run) never touch that search: they are a
    set, and a text is searched for them only at its ``eyJ`` (where every JWT begins), each such place
    looked up in the set at the few token lengths there are. Registering a token costs a set insert,
    never a recompilation."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: set[str] = set()
        self.tokens: set[str] = set()
        self.token_bytes: set[bytes] = set()
        self._order: deque[str] = deque()  # tokens, oldest first: the oldest go beyond ``keep``
        self._lengths: dict[int, int] = {}  # token length -> how many tokens have it
        #: The distinct token lengths, longest first (read without the lock: replaced, never changed).
        self.token_lengths: tuple[int, ...] = ()
        self._pattern: re.Pattern[str] | None = None
        self._as_bytes: dict[bytes, tuple[bytes, ...]] = {}
        self._dirty = False
        self.version = 0  # changes whenever the static values do (the key of scrub_value's cache)

    def add(self, forms: set[str]) -> None:
        with self.lock:
            new = forms - self.values
            if not new:
                return
            self.values.update(new)
            self._dirty = True
            self.version += 1

    def add_token(self, token: str, keep: int) -> None:
        """A minted JWT, of which the latest ``keep`` are kept. A text that held it was made after this
        call (it is registered before it is sent), so no scrub_value cached earlier can hold it: the
        version stays."""
        with self.lock:
            if token in self.tokens:
                return
            self.tokens.add(token)
            self.token_bytes.add(token.encode("ascii"))
            self._order.append(token)
            self._count(len(token), +1)
            while len(self._order) > keep:
                old = self._order.popleft()
                self.tokens.discard(old)
                self.token_bytes.discard(old.encode("ascii"))
                self._count(len(old), -1)

    def _count(self, length: int, delta: int) -> None:
        count = self._lengths.get(length, 0) + delta
        if count:
            self._lengths[length] = count
        else:
            del self._lengths[length]
        if (count == 1 and delta > 0) or count == 0:
            self.token_lengths = tuple(sorted(self._lengths, reverse=True))

    def clear(self) -> None:
        with self.lock:
            self.values.clear()
            self.tokens.clear()
            self.token_bytes.clear()
            self._order.clear()
            self._lengths.clear()
            self.token_lengths = ()
            self._dirty = True
            self.version += 1

    def compiled(self) -> tuple[re.Pattern[str] | None, dict[bytes, tuple[bytes, ...]]]:
        """One search for all static values in text, and for bytes the values grouped by their first
        characters (a large body is scanned once per group)."""
        with self.lock:
            if self._dirty:
                ordered = sorted(self.values, key=len, reverse=True)  # longest first
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
                groups: dict[bytes, list[bytes]] = {}
                for value in ordered:
                    encoded = value.encode("utf-8")
                    groups.setdefault(encoded[:MIN_KNOWN_CHARS], []).append(encoded)
                self._as_bytes = {start: tuple(members) for start, members in groups.items()}
                self._dirty = False
            return self._pattern, self._as_bytes

    def longest_bytes(self) -> int:
        """The length of the longest credential in UTF-8 (a token is ASCII)."""
        _, groups = self.compiled()
        static = max((len(v) for members in groups.values() for v in members), default=0)
        lengths = self.token_lengths
        return max(static, lengths[0] if lengths else 0)

    def without_cut_secret(self, text: str) -> str:
        """``text`` without a trailing beginning of a known credential (a window cut it in half)."""
        with self.lock:
            values, tokens = list(self.values), list(self.tokens)
        for value in values:
            for size in range(len(value) - 1, 2, -1):
                if text.endswith(value[:size]):
                    return text[:-size]
        lengths = self.token_lengths
        if lengths:  # a minted token's beginning: from an eyJ near the end, a prefix of one we minted
            at = text.find(JWT_START, max(0, len(text) - lengths[0]))
            while at >= 0:
                tail = text[at:]
                if any(token.startswith(tail) for token in tokens):
                    return text[:at]
                at = text.find(JWT_START, at + 1)
        return text


def replace_minted(
    text: AnyStr, start: AnyStr, tokens: AbstractSet[AnyStr], lengths: tuple[int, ...], secret: AnyStr
) -> AnyStr:
    """Every one of ``tokens`` (of the given ``lengths``, longest first) in ``text`` replaced by ``secret``,
    looked for at each ``start`` only: the one scan of text and bytes; ``text`` itself when none is in it."""
    if not lengths or start not in text:
        return text
    parts: list[AnyStr] = []
    done = 0
    at = text.find(start)
    while at >= 0:
        for size in lengths:
            if text[at : at + size] in tokens:
                parts.append(text[done:at])
                parts.append(secret)
                done = at + size
                break
        at = text.find(start, max(done, at + 1))
    if not parts:
        return text
    parts.append(text[done:])
    return text[:0].join(parts)
